"""Hardened loading of libvirt-style XML and validation against pyvirt's RelaxNG schemas.

:func:`load_xml` is the one door through which untrusted text becomes an lxml tree. The
parser never resolves entities, loads a DTD or touches the network; a DOCTYPE is refused
outright; size and nesting are bounded. The tree is then judged by lxml's RelaxNG against
``domain/schema/<schema>.rng``. RelaxNG's own error log is vague, so a failure is
explained by walking the document against a flattened view of the same schema (which
attributes and child elements each element allows, which are required, which may
repeat), giving one line that names the element or attribute and its line.

Comments and processing instructions are dropped, except inside ``<metadata>``, which
is kept verbatim.
"""

from __future__ import annotations

import copy
import errno
import functools
import itertools
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from lxml import etree

from pyvirt.errors import InternalError, SchemaError, SystemCallError, XmlSyntaxError

MAX_XML_BYTES = 10 * 1024 * 1024
"""Largest document accepted (virsh's VSH_MAX_XML_FILE)."""

MAX_XML_NODES = 10_000
"""Most nodes (elements, comments, PIs) outside ``<metadata>``; libxml2's RelaxNG is
quadratic in the number of siblings, so this bounds validation time (about 0.2 s)."""

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"

_RNG_NS = "{http://relaxng.org/ns/structure/1.0}"
_LXML_POSITION = re.compile(r",? line \d+, column \d+\s*$")
_HUGE_HINT = re.compile(r",? (?:try|use) XML_PARSE_HUGE(?: option)?")
_SPACE = re.compile(rb"\s+")
_BLANK = re.compile(rb"\s*")
_Element = etree._Element


class _LogEntry(Protocol):
    message: str
    line: int


class _RelaxNG(Protocol):
    error_log: Iterable[_LogEntry]

    def validate(self, tree: _Element) -> bool: ...


# lxml-stubs does not declare RelaxNG; the Protocol above is the part we use.
_relaxng: Callable[..., _RelaxNG] = getattr(etree, "RelaxNG")  # noqa: B009


@dataclass(frozen=True)
class _Child:
    """How an element pattern may appear inside its parent."""

    pattern: _Element
    required: bool
    multiple: bool


_Branch = tuple[frozenset[str], frozenset[str]]  # (child names, required child names)


@dataclass
class _Shape:
    """One RelaxNG element pattern, flattened. ``children`` key ``*`` means any name."""

    attributes: dict[str, bool] = field(default_factory=dict)  # name -> required
    children: dict[str, _Child] = field(default_factory=dict)
    choices: list[tuple[bool, tuple[_Branch, ...]]] = field(default_factory=list)
    text: bool = False
    any_attribute: bool = False


class _Grammar:
    """A compiled schema: lxml's RelaxNG decides, the flattened shapes explain."""

    def __init__(self, name: str) -> None:
        path = SCHEMA_DIR / f"{name}.rng"
        if not path.is_file():
            raise InternalError(f"unknown XML schema '{name}'")
        try:
            self.relaxng = _relaxng(file=str(path))
            start, self._defines = _read_grammar(path)
        except (etree.LxmlError, OSError, KeyError) as err:
            raise InternalError(f"cannot load XML schema '{name}': {err}") from err
        self._shapes: dict[_Element, _Shape] = {}
        todo = [start]
        while todo:
            pattern = todo.pop()
            if pattern not in self._shapes:
                shape = self._shapes[pattern] = _Shape()
                self._collect(pattern, shape, required=True, multiple=False)
                todo.extend(child.pattern for child in shape.children.values())
        self.roots = self._shapes[start].children

    def _collect(
        self, patterns: Iterable[_Element], shape: _Shape, *, required: bool, multiple: bool
    ) -> None:
        """Fold the content patterns into ``shape``; stops at nested ``<element>``."""
        for p in patterns:
            kind = p.tag.removeprefix(_RNG_NS)
            name = p.get("name", "*")
            if kind == "element":
                old = shape.children.get(name)
                shape.children[name] = (
                    _Child(p, required, multiple)
                    if old is None
                    else _Child(old.pattern, old.required or required, True)
                )
            elif kind == "attribute":
                shape.any_attribute |= name == "*"
                shape.attributes[name] = required or shape.attributes.get(name, False)
            elif kind in ("text", "data", "value", "list", "mixed"):
                shape.text = True
                self._collect(p, shape, required=required, multiple=multiple)
            elif kind in ("optional", "zeroOrMore", "oneOrMore"):
                self._collect(
                    p,
                    shape,
                    required=required and kind == "oneOrMore",
                    multiple=multiple or kind != "optional",
                )
            elif kind in ("group", "interleave"):
                self._collect(p, shape, required=required, multiple=multiple)
            elif kind == "ref":
                self._collect(self._defines[name], shape, required=required, multiple=multiple)
            elif kind == "choice":
                self._collect_choice(p, shape, required=required, multiple=multiple)

    def _collect_choice(
        self, choice: _Element, shape: _Shape, *, required: bool, multiple: bool
    ) -> None:
        branches: list[_Branch] = []
        for alternative in choice:
            sub = _Shape()
            self._collect([alternative], sub, required=True, multiple=multiple)
            shape.text |= sub.text
            shape.any_attribute |= sub.any_attribute
            for attr in sub.attributes:
                shape.attributes.setdefault(attr, False)
            for name, child in sub.children.items():
                shape.children.setdefault(name, _Child(child.pattern, False, child.multiple))
            needed = frozenset(n for n, c in sub.children.items() if c.required)
            branches.append((frozenset(sub.children), needed))
        if not multiple and any(names for names, _ in branches):
            shape.choices.append((required, tuple(branches)))

    def explain(self, el: _Element, child: _Child) -> str | None:
        """The first reason ``el`` does not match ``child.pattern``, or None if none is found."""
        shape = self._shapes[child.pattern]
        if shape.any_attribute and "*" in shape.children:
            return None  # free-form content such as <metadata>
        here, at = f"<{_name(el)}>", _at(el)
        for attr in el.attrib:
            if attr not in shape.attributes and not shape.any_attribute:
                return f"unsupported attribute '{_attr_name(el, str(attr))}' on {here}{at}"
        for attr, required in shape.attributes.items():
            if required and attr not in el.attrib:
                return f"missing required attribute '{attr}' on {here}{at}"
        stray = " ".join("".join([el.text or "", *(c.tail or "" for c in el)]).split())
        if stray and not shape.text:
            return f"unexpected text '{stray[:40]}' in {here}{at}"
        kids = [
            (kid, shape.children.get(kid.tag, shape.children.get("*")))
            for kid in el
            if isinstance(kid.tag, str)
        ]
        seen: set[str] = set()
        for kid, rule in kids:
            if rule is None:
                return f"unsupported element <{_name(kid)}> in {here}{_at(kid)}"
            if kid.tag in seen and not rule.multiple:
                return f"element <{_name(kid)}> may appear only once in {here}{_at(kid)}"
            seen.add(kid.tag)
        for name, rule in shape.children.items():
            if rule.required and name not in seen:
                return f"missing required element <{name}> in {here}{at}"
        for required, branches in shape.choices:
            problem = _check_choice(seen, required, branches)
            if problem:
                return f"{problem} in {here}{at}"
        for kid, rule in kids:
            problem = self.explain(kid, cast(_Child, rule))
            if problem:
                return problem
        return None


def _read_grammar(path: Path) -> tuple[_Element, dict[str, _Element]]:
    """The ``<start>`` and ``<define>``s of a trusted .rng file, following ``<include>``."""
    parser = etree.XMLParser(remove_comments=True, resolve_entities=False, no_network=True)
    start: _Element | None = None
    defines: dict[str, _Element] = {}
    for item in etree.parse(str(path), parser).getroot():
        items = [item]
        if item.tag == f"{_RNG_NS}include":
            start, defines = _read_grammar(path.parent / str(item.attrib["href"]))
            items = list(item)  # overrides
        for it in items:
            if it.tag == f"{_RNG_NS}start":
                start = it
            elif it.tag == f"{_RNG_NS}define":
                defines[str(it.attrib["name"])] = it
    if start is None:
        raise KeyError(f"{path.name} has no <start>")
    return start, defines


def _check_choice(present: set[str], required: bool, branches: tuple[_Branch, ...]) -> str | None:
    """Why the children ``present`` fit no branch of a ``<choice>``, or None."""
    used = {n for names, _ in branches for n in names} & present
    if not used and not required:
        return None
    fitting = [(names, needed - present) for names, needed in branches if used <= names]
    if any(not missing for _, missing in fitting):
        return None
    if fitting:
        return f"missing required element <{sorted(fitting[0][1])[0]}>"
    first = sorted(used)[0]
    other = next((n for n in sorted(used) if not any({first, n} <= b for b, _ in branches)), "")
    return f"element <{other}> cannot be combined with <{first}>"


def _name(el: _Element) -> str:
    return f"{el.prefix}:{etree.QName(el).localname}" if el.prefix else el.tag


def _attr_name(el: _Element, attr: str) -> str:
    uri, _, local = attr[1:].rpartition("}") if attr.startswith("{") else ("", "", attr)
    prefix = next((p for p, u in el.nsmap.items() if u == uri and p), None) if uri else None
    return f"{prefix}:{local}" if prefix else attr


def _at(el: _Element) -> str:
    return f" (line {el.sourceline})" if el.sourceline else ""


@functools.cache
def _grammar(name: str) -> _Grammar:
    """The compiled schema ``name``; compiled once per process, on first use."""
    return _Grammar(name)


def _doctype_line(raw: bytes) -> int:
    """Line of a DOCTYPE in the prolog (the only place XML allows one), else 0.

    Markup is ASCII, so dropping NUL bytes and byte-order marks reads UTF-16 and UTF-32
    prologs too; a miss only leaves the check to the backstop after parsing.
    """
    text = raw.replace(b"\x00", b"").lstrip(b"\xef\xbb\xbf\xfe\xff")
    pos = 0
    while pos < len(text):
        blank = _BLANK.match(text, pos)
        pos = blank.end() if blank else pos
        if text.startswith(b"<!--", pos):
            closer = b"-->"
        elif text.startswith(b"<?", pos):
            closer = b"?>"
        else:
            break
        end = text.find(closer, pos + 2)
        pos = len(text) if end < 0 else end + len(closer)
    return text.count(b"\n", 0, pos) + 1 if text.startswith(b"<!DOCTYPE", pos) else 0


def _parse(raw: bytes, *, utf8: bool, source: str) -> _Element:
    """Parse with every libxml2 feature that reaches beyond the given bytes switched off."""
    parser = etree.XMLParser(
        encoding="utf-8" if utf8 else None,  # str input: ignore its encoding declaration
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,  # keeps libxml2's depth (256) and text-size limits
    )
    try:
        root: _Element = etree.fromstring(raw, parser, base_url=source or "<string>")
    except etree.XMLSyntaxError as err:
        message = _HUGE_HINT.sub("", _LXML_POSITION.sub("", str(err.msg)))  # not an option here
        where = f" (line {err.lineno})" if err.lineno else ""
        raise XmlSyntaxError(" ".join(message.split()) + where) from err
    except (ValueError, etree.LxmlError) as err:
        raise XmlSyntaxError(" ".join(str(err).split())) from err
    return root


def load_xml(data: bytes | str, *, schema: str = "domain", source: str = "") -> _Element:
    """Parse untrusted XML with a hardened parser and validate it against ``schema``.

    :param data: the document; bytes honour the XML declaration, str is taken as text.
    :param schema: ``"domain"`` or ``"device"`` (a single hot-plug device).
    :param source: where the document came from; used as lxml's base URL only (messages
        stay path-free so that golden error files are stable).
    :returns: the root element, with comments and PIs removed outside ``<metadata>``.
    :raises XmlSyntaxError: too large, empty, not well-formed, too deep, has a DOCTYPE, or
        too many nodes.
    :raises SchemaError: wrong root element or anything outside the schema.
    :raises InternalError: ``schema`` names no schema.
    """
    root = parse_xml(data, source=source)
    outside = itertools.chain.from_iterable(n.iter() for n in root if n.tag != "metadata")
    if next(itertools.islice(outside, MAX_XML_NODES, None), None) is not None:
        raise XmlSyntaxError(f"document has more than {MAX_XML_NODES} nodes outside <metadata>")
    _validate(root, schema)
    _drop_comments(root)
    return root


def parse_xml(data: bytes | str, *, source: str = "") -> _Element:
    """The hardened parse of :func:`load_xml` alone: no node limit, no schema, comments
    and PIs kept. For readers of a few elements that must not pay for the rest.

    :raises XmlSyntaxError: too large, empty, not well-formed, too deep, or has a DOCTYPE.
    """
    if len(data) > MAX_XML_BYTES:
        raise XmlSyntaxError(f"document is too large: more than {MAX_XML_BYTES} bytes")
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    except UnicodeEncodeError as err:
        raise XmlSyntaxError(f"document is not valid Unicode: {err.reason}") from err
    if len(raw) > MAX_XML_BYTES:
        raise XmlSyntaxError(f"document is too large: more than {MAX_XML_BYTES} bytes")
    if _SPACE.fullmatch(raw) or not raw:
        raise XmlSyntaxError("Document is empty")
    line = _doctype_line(raw)
    if line:
        raise XmlSyntaxError(f"DOCTYPE is not allowed (line {line})")
    root = _parse(raw, utf8=isinstance(data, str), source=source)
    if getattr(root.getroottree().docinfo, "doctype", ""):  # backstop for the prolog scan
        raise XmlSyntaxError("DOCTYPE is not allowed")
    return root


def _validate(root: _Element, schema: str) -> None:
    grammar = _grammar(schema)
    rule = grammar.roots.get(root.tag)
    if rule is None:
        expected = ", ".join(f"<{n}>" for n in grammar.roots)
        expected = expected if len(grammar.roots) == 1 else f"one of {expected}"
        raise SchemaError(f"expected {expected}, found <{_name(root)}>{_at(root)}")
    if grammar.relaxng.validate(_without_metadata(root)):
        return
    problem = grammar.explain(root, rule)
    if problem is None:  # a rule the explainer does not model: fall back on lxml's log
        entry = next((e for e in grammar.relaxng.error_log if e.line > 0), None)
        problem = " ".join(entry.message.split()) + f" (line {entry.line})" if entry else "invalid"
    raise SchemaError(problem)


def _without_metadata(root: _Element) -> _Element:
    """*root* as the validator should see it: every ``<metadata>`` empty.

    <metadata> may hold anything, and libxml2 needs minutes for some such content (many
    attributes, many siblings), so the validator gets a copy with an empty stand-in. A
    copy, because moving a subtree out of its document and back costs libxml2 time
    quadratic in the namespaces declared inside it (100 000 took seconds); copying the
    rest is linear in at most MAX_XML_NODES nodes. Copies keep their source lines.
    """
    if not any(child.tag == "metadata" for child in root):
        return root
    # the default namespace's key is None, which lxml accepts and lxml-stubs does not
    shell = etree.Element(root.tag, nsmap=cast("dict[str, str]", root.nsmap))
    for key, value in root.attrib.items():
        shell.set(key, value)
    shell.text = root.text
    for child in root:
        if child.tag == "metadata":
            etree.SubElement(shell, "metadata").tail = child.tail
        else:
            shell.append(copy.deepcopy(child))
    return shell


def _drop_comments(root: _Element) -> None:
    """Remove comments and PIs outside ``<metadata>``, keeping the text around them."""
    doomed = [
        node
        for child in root
        if child.tag != "metadata"
        for node in child.iter(etree.Comment, etree.ProcessingInstruction)
    ]
    for node in doomed:
        parent, previous = cast(_Element, node.getparent()), node.getprevious()
        if node.tail and previous is not None:
            previous.tail = (previous.tail or "") + node.tail
        elif node.tail:
            parent.text = (parent.text or "") + node.tail
        parent.remove(node)


def read_xml_file(path: str | Path, *, schema: str = "domain") -> _Element:
    """Read a file (``-`` is standard input) of at most 10 MiB and :func:`load_xml` it.

    The size is checked with ``fstat`` and a bounded read before anything is parsed.

    :raises SystemCallError: the file cannot be opened or read, or is too large, worded
        as libvirt's ``virFileReadAll`` (``Failed to open file 'x': No such file ...``).
    :raises XmlSyntaxError: see :func:`load_xml`.
    :raises SchemaError: see :func:`load_xml`.
    """
    name = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))
    if name == "-":
        raw = _read_limited(sys.stdin.buffer, name)
    else:
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below; errors mapped apart
        except (OSError, ValueError) as err:
            raise SystemCallError(f"Failed to open file '{name}': {_reason(err)}") from err
        with stream:
            raw = _read_limited(stream, name)
    return load_xml(raw, schema=schema, source=name)


def _read_limited(stream: BinaryIO, name: str) -> bytes:
    too_large = f"Failed to read file '{name}': {os.strerror(errno.EOVERFLOW)}"
    try:
        size = os.fstat(stream.fileno()).st_size
    except (OSError, ValueError):  # no file descriptor (e.g. a replaced stdin): read bounded
        size = 0
    if size > MAX_XML_BYTES:
        raise SystemCallError(too_large)
    try:
        raw = stream.read(MAX_XML_BYTES + 1)
    except (OSError, ValueError) as err:
        raise SystemCallError(f"Failed to read file '{name}': {_reason(err)}") from err
    if len(raw) > MAX_XML_BYTES:
        raise SystemCallError(too_large)
    return raw


def _reason(err: Exception) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)
