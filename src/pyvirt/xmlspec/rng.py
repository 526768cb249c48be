"""RelaxNG generated from the declarations: the grammar says exactly what the model holds.

Conventions kept from the hand-written grammar (``grammar.py`` explains failures with
them): structure is strict (names, nesting, cardinality), values are plain text (the
codecs check them and give libvirt's messages), children come in any order. A tagged
union allows what any of its variants allows; the engine refuses what the chosen variant
does not read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from lxml import etree

from pyvirt.xmlspec.engine import plan
from pyvirt.xmlspec.fields import Child, Custom, Flag, Leaf, Pattern, Union, split

RNG_NS = "http://relaxng.org/ns/structure/1.0"


@dataclass
class Node:
    """The flattened shape of one element."""

    attrs: dict[str, bool] = field(default_factory=dict)  # name -> required
    kids: dict[str, Kid] = field(default_factory=dict)
    text: bool = False
    # A union whose variants each require children of their own: one branch of child
    # names per variant, exactly one of which must be there.
    choice: list[list[str]] = field(default_factory=list)


@dataclass
class Kid:
    node: Node | None  # None: a custom pattern's body
    required: bool = False
    multiple: bool = False
    body: str = ""
    ref: str | None = None


def _descend(node: Node, elems: Iterable[str], required: bool) -> Node:
    for tag in elems:
        kid = node.kids.get(tag)
        if kid is None or kid.node is None:
            kid = node.kids[tag] = Kid(Node())
        kid.required = kid.required or required
        node = kid.node  # type: ignore[assignment]
    return node


def shape_of(target: type | Union) -> Node:
    """The shape of a class's element (a union: its variants merged)."""
    if isinstance(target, Union):
        return _merge([shape_of(v) for v in target.variants.values()])
    node = Node()
    for _name, spec, _init in plan(target).fields:
        _add(node, spec)
    for name in getattr(target, "XML_IGNORED", {}):  # accepted, deliberately not kept
        node.attrs[name[1:]] = False
    return node


def _add(node: Node, spec: object) -> None:
    if isinstance(spec, Leaf):
        elems, name = split(spec.path)
        parent = _descend(node, elems[:-1], spec.required)
        if elems:
            here = _descend(parent, elems[-1:], spec.required)
            if spec.many:
                parent.kids[elems[-1]].multiple = True
        else:
            here = parent
        if name is None:
            here.text = True
        else:
            here.attrs[name] = here.attrs.get(name, False) or spec.required or spec.need
    elif isinstance(spec, Flag):
        _descend(node, split(spec.path)[0], False)
    elif isinstance(spec, Union):
        _merge_into(node, shape_of(spec))
    elif isinstance(spec, Child):
        elems, _ = split(spec.path)
        parent = _descend(node, elems[:-1], spec.required)
        parent.kids[elems[-1]] = Kid(shape_of(spec.target), spec.required, spec.many)
    elif isinstance(spec, Custom):
        for name, required in spec.shape.attributes.items():
            node.attrs[name] = required
        node.text = node.text or spec.shape.text
        for pat in spec.shape.children:
            elems, _ = split(pat.name)
            _descend(node, elems[:-1], pat.required).kids[elems[-1]] = _pattern(pat)


def _pattern(pat: Pattern) -> Kid:
    return Kid(None, pat.required, pat.multiple, pat.body)


def _merge_into(node: Node, other: Node) -> None:
    """Add ``other``'s items to ``node`` (a union member: optional unless in all)."""
    for name, required in other.attrs.items():
        node.attrs[name] = node.attrs.get(name, False) or required
    for tag, kid in other.kids.items():
        mine = node.kids.get(tag)
        if mine is None:
            node.kids[tag] = kid
        elif mine.node is not None and kid.node is not None:
            _merge_into(mine.node, kid.node)
            mine.multiple = mine.multiple or kid.multiple
    node.text = node.text or other.text


def _merge(nodes: list[Node]) -> Node:
    """The union's shape: an item is required only where every variant requires it."""
    out = Node(text=any(n.text for n in nodes))
    for n in nodes:
        for name in n.attrs:
            out.attrs[name] = all(m.attrs.get(name, False) for m in nodes)
    tags = list(dict.fromkeys(t for n in nodes for t in n.kids))
    for tag in tags:
        kids = [n.kids[tag] for n in nodes if tag in n.kids]
        required = len(kids) == len(nodes) and all(k.required for k in kids)
        multiple = any(k.multiple for k in kids)
        inner = [k.node for k in kids if k.node is not None]
        if len(inner) == len(kids):
            out.kids[tag] = Kid(_merge(inner), required, multiple)
        else:
            out.kids[tag] = Kid(None, required, multiple, kids[0].body)
    _choose(out, nodes)
    return out


def _choose(out: Node, nodes: list[Node]) -> None:
    """Make the children only one variant has a choice when two or more variants
    require children of their own (a hostdev's ``<source>``: an address, or a vendor and
    a product)."""
    owners: dict[str, int] = {}
    for n in nodes:
        for tag in n.kids:
            owners[tag] = owners.get(tag, 0) + 1
    branches = [[t for t in n.kids if owners[t] == 1] for n in nodes]
    requiring = [b for b, n in zip(branches, nodes, strict=True)
                 if any(n.kids[t].required for t in b)]
    if len(requiring) < 2 or len(requiring) != len([b for b in branches if b]):
        return
    out.choice = requiring
    for branch, n in zip(branches, nodes, strict=True):
        for t in branch:
            out.kids[t].required = n.kids[t].required


def element(tag: str, node: Node, indent: int) -> str:
    """The RelaxNG ``<element>`` pattern for ``node``."""
    pad = " " * indent
    inner: list[str] = []
    for name, required in node.attrs.items():
        a = f'<attribute name="{name}"/>'
        inner.append(a if required else f"<optional>{a}</optional>")
    chosen = {t for branch in node.choice for t in branch}
    content = [_kid(t, k, indent + 4) for t, k in node.kids.items() if t not in chosen]
    if node.choice:
        content.append(_choice(node, indent + 4))
    if node.text:
        content.append("<text/>")
    if len(content) > 1:
        body = "\n".join(f"{pad}    {c}" if not c.startswith(" ") else c for c in content)
        inner.append(f"<interleave>\n{body}\n{pad}  </interleave>")
    else:
        inner.extend(c.strip() for c in content)
    if not inner:
        inner.append("<empty/>")
    lines = "\n".join(f"{pad}  {i}" for i in inner)
    return f'{pad}<element name="{tag}">\n{lines}\n{pad}</element>'


def _choice(node: Node, indent: int) -> str:
    pad = " " * indent
    alternatives = []
    for branch in node.choice:
        parts = [_kid(t, replace(node.kids[t], required=True) if len(branch) == 1
                      else node.kids[t], indent + 4) for t in branch]
        alternatives.append(parts[0].strip() if len(parts) == 1 else
                            "<interleave>" + "".join(p.strip() for p in parts)
                            + "</interleave>")
    body = "\n".join(f"{pad}  {a}" for a in alternatives)
    return f"<choice>\n{body}\n{pad}</choice>"


def _kid(tag: str, kid: Kid, indent: int) -> str:
    if kid.ref is not None:
        pattern = f'<ref name="{kid.ref}"/>'
    elif kid.node is None:
        pattern = f'<element name="{tag}">{kid.body}</element>'
    else:
        pattern = "\n" + element(tag, kid.node, indent + 2) + "\n" + " " * indent
    wrap = ("oneOrMore" if kid.required else "zeroOrMore") if kid.multiple \
        else (None if kid.required else "optional")
    if wrap is None:
        return pattern.strip() if kid.ref or kid.node is None else pattern.rstrip()
    return f"<{wrap}>{pattern}</{wrap}>"


ANY_CONTENT = """  <define name="anyContent">
    <zeroOrMore>
      <choice>
        <attribute><anyName/></attribute>
        <text/>
        <element><anyName/><ref name="anyContent"/></element>
      </choice>
    </zeroOrMore>
  </define>"""


def grammar(tag: str, root: type, *, comment: str,
            devices: tuple[str, type, str] | None = None) -> str:
    """The whole grammar of documents whose root is ``tag``/``root``.

    ``devices = (path, cls, choice)``: the children of ``cls`` (the element at ``path``)
    become named defines (``disk`` ...), and a define ``choice`` is the choice of them all
    (``device``, which the hot-plug grammars start from)."""
    defines: dict[str, Node] = {}
    root_node = shape_of(root)
    if devices is not None:
        path, cls, _choice = devices
        for _name, spec, _init in plan(cls).fields:
            if isinstance(spec, Child):
                defines[split(spec.path)[0][-1]] = shape_of(spec.target)
        holder = root_node.kids[path].node
        assert holder is not None
        for name in defines:
            holder.kids[name].ref = name
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<!--\n{comment}\n-->',
             f'<grammar xmlns="{RNG_NS}">', f'  <start>\n    <ref name="{tag}"/>\n  </start>',
             ANY_CONTENT, f'  <define name="{tag}">\n{element(tag, root_node, 4)}\n  </define>']
    for name, node in defines.items():
        parts.append(f'  <define name="{name}">\n{element(name, node, 4)}\n  </define>')
    if devices is not None:
        refs = "\n".join(f'      <ref name="{n}"/>' for n in defines)
        parts.append(f'  <define name="{devices[2]}">\n    <choice>\n{refs}\n'
                     f"    </choice>\n  </define>")
    return _pretty("\n".join(parts) + "\n</grammar>\n")


def _pretty(text: str) -> str:
    """Re-indent the assembled grammar (two spaces a level), comment and all."""
    root = etree.fromstring(text.encode(), etree.XMLParser(remove_blank_text=True))
    etree.indent(root, space="  ")
    comments = "".join(etree.tostring(c, encoding="unicode") + "\n"
                       for c in root.itersiblings(preceding=True))
    body = etree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{comments}{body}\n'
