"""The engine: parse and format any dataclass declared with :mod:`pyvirt.xmlspec.fields`.

The declarations of a class are read once (:func:`plan`), never per document. Parsing
reads each field from the element; formatting writes fields in declaration order, a child
element being created by the first field that writes into it, so an element nobody wrote
never appears. A tagged union shares its holding element; what a variant other than the
chosen one would read is refused instead of silently dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from lxml import etree

from pyvirt.errors import ConfigUnsupportedError, ParseError
from pyvirt.xmlspec.codecs import where
from pyvirt.xmlspec.compiled import Parser, compile_reader, compile_writer
from pyvirt.xmlspec.fields import Child, Custom, Flag, Leaf, Spec, Union, spec_of, split

T = TypeVar("T")
Element = etree._Element


@dataclass(frozen=True)
class Plan:
    """A class's declarations in order: (field name, spec, passed to ``__init__``)."""

    cls: type
    fields: tuple[tuple[str, Spec, bool], ...]
    paths: frozenset[str]  # every leaf path the class reads, for the union checks
    common: frozenset[str] = frozenset()  # the paths of its fields that are no union
    # (field name, passed to __init__, first element it reads or None, read even when that
    # element is absent (to report it), reader), for every field but the unions
    readers: tuple[tuple[str, bool, str | None, bool,
                         Callable[[Element, set[str]], Any]], ...] = ()
    unions: tuple[tuple[str, Union], ...] = ()


_SPLITS: dict[str, tuple[tuple[str, ...], str | None]] = {}
_FOREIGN: dict[tuple[int, type], tuple[str, ...]] = {}


def _split(path: str) -> tuple[tuple[str, ...], str | None]:
    found = _SPLITS.get(path)
    if found is None:
        found = _SPLITS[path] = split(path)
    return found


_PLANS: dict[type, Plan] = {}


def plan(cls: type) -> Plan:
    """``cls``'s declarations, read once per class."""
    found = _PLANS.get(cls)
    if found is None:
        items = []
        for f in dataclasses.fields(cls):
            spec = spec_of(f.metadata)
            if spec is not None:
                items.append((f.name, spec, f.init))
        common = frozenset(s.path for _n, s, _i in items if isinstance(s, Leaf | Flag | Child))
        readers = tuple((n, i, _first(s), _strict(s), _reader(s)) for n, s, i in items
                        if not isinstance(s, Union))
        unions = tuple((n, s) for n, s, _i in items if isinstance(s, Union))
        found = _PLANS[cls] = Plan(cls, tuple(items), frozenset(_paths(items)), common,
                                   readers, unions)
    return found


def _paths(items: list[tuple[str, Spec, bool]]) -> Iterator[str]:
    for _name, spec, _init in items:
        if isinstance(spec, Leaf | Flag | Child):
            yield spec.path
        elif isinstance(spec, Custom):
            yield from (f"@{a}" for a in spec.shape.attributes)
            yield from (c.name for c in spec.shape.children)
        else:
            yield spec.on
            for variant in spec.variants.values():
                yield from plan(variant).paths


def _first(spec: Spec) -> str | None:
    """The child element a field reads from (None: the holding element itself)."""
    if isinstance(spec, Leaf | Flag | Child):
        elems = split(spec.path)[0]
        return elems[0] if elems else None
    return None


def _strict(spec: Spec) -> bool:
    if isinstance(spec, Leaf):
        return spec.required or spec.missing is not None
    return isinstance(spec, Child) and spec.required


def _reader(spec: Spec) -> Callable[[Element, set[str]], Any]:
    if isinstance(spec, Custom):
        read = spec.read
        return lambda el, _tags: read(el)
    if isinstance(spec, Leaf) and not spec.many:
        fast = _leaf_reader(spec)
        if fast is not None:
            return fast
    if isinstance(spec, Child) and not spec.required and "/" not in spec.path:
        return _child_reader(spec)
    return lambda el, tags: _read(el, spec, tags)


def _child_reader(spec: Child) -> Callable[[Element, set[str]], Any]:
    """An optional child (or children) one level down, the common case."""
    tag, target = spec.path, spec.target
    if spec.many:
        return lambda el, _tags: tuple(_read_child(n, target) for n in el.iterchildren(tag))

    def read(el: Element, _tags: set[str]) -> Any:
        node = el.find(tag)
        return None if node is None else _read_child(node, target)
    return read


def _leaf_reader(spec: Leaf) -> Callable[[Element, set[str]], Any] | None:
    """A leaf's reader, specialised for an attribute of the element itself or of one child
    (most items); None for the rest (repeated, deeper, raw text)."""
    elems, name = split(spec.path)
    decode, strip = spec.codec.decode, spec.codec.strip
    if len(elems) > 1 or (name is None and not strip):
        return None
    tag = elems[0] if elems else None
    what = None if tag is None else f"{tag}/@{name}" if name is not None else tag
    strict = spec.required or spec.missing is not None

    def read(el: Element, _tags: set[str]) -> Any:
        node = el if tag is None else el.find(tag)
        raw = None if node is None else node.get(name) if name is not None else node.text
        if raw and strip:
            raw = raw.strip()
        if not raw or node is None:
            if strict:
                _read_leaf(el, spec, _tags)  # raises the item's own message
            return None
        return decode(raw, what or (f"{node.tag}/@{name}" if name is not None
                                    else str(node.tag)), node)
    return read


def _find(el: Element, elems: tuple[str, ...]) -> Element | None:
    return el.find("/".join(elems)) if elems else el


def present(el: Element, path: str) -> Element | None:
    """The element holding ``path`` when the item is in the document, else None."""
    elems, name = _split(path)
    node = _find(el, elems)
    if node is None or (name is not None and not node.get(name)):
        return None
    return node


def _read_leaf(el: Element, spec: Leaf, tags: set[str]) -> Any:
    elems, name = _split(spec.path)
    if elems and elems[0] not in tags and not (spec.missing or spec.required):
        return () if spec.many else None
    if spec.many:
        parents = _find(el, elems[:-1])
        nodes = [] if parents is None else parents.findall(elems[-1])
        return tuple(spec.codec.decode(n.get(name) or "", f"{n.tag}/@{name}", n)
                     for n in nodes) if name else \
            tuple(spec.codec.decode(n.text or "", n.tag, n) for n in nodes)
    node = _find(el, elems)
    raw = None if node is None else node.get(name) if name else node.text
    if raw is not None and spec.codec.strip:
        raw = raw.strip()
    if node is None or (not raw and (spec.codec.strip or name is not None)):
        if spec.missing is not None:
            raise ParseError(spec.missing)
        if spec.required:
            raise ParseError(f"missing '{spec.path}' in <{el.tag}>{where(el)}")
        if node is not None and name is None and not spec.codec.strip:
            return ""
        return None
    return spec.codec.decode(raw or "", f"{node.tag}/@{name}" if name else node.tag, node)


def _variant(el: Element, spec: Union) -> type:
    if spec.select is not None:
        return spec.select(el)
    raw = el.get(spec.on[1:]) or spec.default
    variant = spec.variants.get(raw or "")
    if variant is None:
        if spec.unknown is not None:
            raise spec.unknown(raw, el)
        raise ParseError(f"unknown {el.tag} type '{raw}'{where(el)}")
    return variant


def _foreign(spec: Union, chosen: type, own: frozenset[str]) -> tuple[str, ...]:
    """What the other variants of ``spec`` read and ``chosen`` (and the holder) do not."""
    key = (id(spec), chosen)
    found = _FOREIGN.get(key)
    if found is None:
        mine = plan(chosen).paths | own
        others = {p for v in spec.variants.values() for p in plan(v).paths} - mine
        found = _FOREIGN[key] = tuple(sorted(
            p for p in others if not any(p.startswith(f"{o}/") for o in own)))
    return found


def _check_foreign(el: Element, spec: Union, chosen: type, own: frozenset[str],
                   tags: set[str]) -> None:
    for path in _foreign(spec, chosen, own):
        if not path.startswith("@") and path.split("/", 1)[0] not in tags:
            continue
        node = present(el, path)
        if node is not None:
            raise ConfigUnsupportedError(
                f"'{path}' is not used by {el.tag} {spec.on[1:]} "
                f"'{el.get(spec.on[1:]) or spec.default}'{where(node)}")


_CLAIMS: dict[type, frozenset[str]] = {}


def _claims(chosen: type) -> frozenset[str]:
    """The child elements a union variant reads (the holder's fields leave them alone)."""
    found = _CLAIMS.get(chosen)
    if found is None:
        found = _CLAIMS[chosen] = frozenset(
            p.split("/")[0] for p in plan(chosen).paths if not p.startswith("@"))
    return found


_PARSERS: dict[type, Parser] = {}
_USES: dict[tuple[type, str], int] = {}
# A one-shot command reads a document once: compiling costs more than it saves there.
COMPILE_AFTER = 3


def _worth_compiling(cls: type, what: str) -> bool:
    """True from the COMPILE_AFTER-th use of ``cls`` for ``what`` on."""
    uses = _USES.get((cls, what), 0) + 1
    _USES[(cls, what)] = uses
    return uses >= COMPILE_AFTER


def _read_fields(p: Plan, el: Element, tags: set[str], claimed: frozenset[str],
                 values: dict[str, Any]) -> None:
    """What a compiled parser does, field by field (see ``compile_reader``)."""
    for name, init, first, strict, read in p.readers:
        if first is not None and (first in claimed or (first not in tags and not strict)):
            continue
        value = read(el, tags)
        if init and value is not None:
            values[name] = value


def parse(cls: type[T], el: Element) -> T:
    """Build ``cls`` from ``el``.

    :raises PyvirtError: whatever a codec, a union or a custom reader raises.
    """
    p = plan(cls)
    values: dict[str, Any] = {}
    claimed: frozenset[str] = frozenset()
    tags = {c.tag for c in el}  # (comments are gone: load_xml drops them)
    for name, spec in p.unions:  # unions first: a variant claims its elements
        chosen = _variant(el, spec)
        _check_foreign(el, spec, chosen, p.common, tags)
        values[name] = parse(chosen, el)
        claimed |= _claims(chosen)
    parser = _PARSERS.get(cls)
    if parser is None and _worth_compiling(cls, "parse"):
        parser = _PARSERS[cls] = compile_reader(p.readers)
    if parser is None:
        _read_fields(p, el, tags, claimed, values)
    else:
        parser(el, tags, claimed, values)
    obj = cls(**values)
    check = getattr(cls, "xml_check", None)
    if check is not None:  # a rule across fields, with the element for its line
        check(obj, el)
    return obj


def _read(el: Element, spec: Spec, tags: set[str]) -> Any:
    if isinstance(spec, Leaf):
        return _read_leaf(el, spec, tags)
    if isinstance(spec, Custom):
        return spec.read(el)
    assert not isinstance(spec, Union)  # parse() reads unions first
    elems, _ = _split(spec.path)
    if elems[0] not in tags:
        if isinstance(spec, Child) and spec.required:
            raise ParseError(f"missing <{spec.path}> in <{el.tag}>{where(el)}")
        return () if isinstance(spec, Child) and spec.many else None
    if isinstance(spec, Flag):
        return True if el.find(spec.path) is not None else None
    assert isinstance(spec, Child)
    if spec.many:
        parent = _find(el, elems[:-1])
        nodes = [] if parent is None else parent.findall(elems[-1])
        return tuple(_read_child(n, spec.target) for n in nodes)
    node = el.find(spec.path)
    if node is None:
        if spec.required:
            raise ParseError(f"missing <{spec.path}> in <{el.tag}>{where(el)}")
        return None
    return _read_child(node, spec.target)


def parse_union(spec: Union, el: Element) -> Any:
    """The variant of ``spec`` that ``el`` names, parsed."""
    return parse(_variant(el, spec), el)


def _read_child(node: Element, target: type | Union) -> Any:
    if isinstance(target, Union):
        return parse(_variant(node, target), node)
    return parse(target, node)


def format_element(obj: object, tag: str) -> Element:
    """``obj`` as a new element ``tag``."""
    el = etree.Element(tag)
    write(el, obj)
    return el


def _ensure(el: Element, elems: tuple[str, ...]) -> Element:
    for tag in elems:
        found = el.find(tag)
        el = found if found is not None else etree.SubElement(el, tag)
    return el


def _new(el: Element, elems: tuple[str, ...]) -> Element:
    return etree.SubElement(_ensure(el, elems[:-1]), elems[-1])


Writer = Callable[[Element, Any, Any], None]  # (holding element, object, field value)
_WRITERS: dict[type, tuple[tuple[str, bool, Writer], ...]] = {}


def _writers(cls: type) -> tuple[tuple[str, bool, Writer], ...]:
    """(field name, written even when None, writer) per field, made once per class."""
    found = _WRITERS.get(cls)
    if found is None:
        found = _WRITERS[cls] = tuple(
            (name, isinstance(spec, Custom), _writer(spec))
            for name, spec, _init in plan(cls).fields)
    return found


def _writer(spec: Spec) -> Writer:
    if isinstance(spec, Custom):
        custom_write = spec.write
        return lambda el, obj, _value: custom_write(el, obj)
    if isinstance(spec, Leaf):
        return _leaf_writer(spec)
    if isinstance(spec, Union):
        return lambda el, _obj, value: write(el, value)
    elems, _ = split(spec.path)
    flag, many = isinstance(spec, Flag), isinstance(spec, Child) and spec.many

    def write_child(el: Element, _obj: Any, value: Any) -> None:
        if flag:
            if value:
                _ensure(el, elems)
        elif many:
            for item in value:
                write(_new(el, elems), item)
        else:
            write(_new(el, elems), value)
    return write_child


_FORMATTERS: dict[type, Callable[[Element, Any], None]] = {}


def write(el: Element, obj: object) -> None:
    """Write every declared field of ``obj`` into ``el``, in declaration order (by the
    class's compiled formatter, :mod:`pyvirt.xmlspec.compiled`)."""
    cls = type(obj)
    formatter = _FORMATTERS.get(cls)
    if formatter is None:
        if not _worth_compiling(cls, "write"):
            write_slowly(el, obj)
            return
        formatter = _FORMATTERS[cls] = compile_writer(plan(cls).fields, write, _write_leaf,
                                                      _ensure)
    formatter(el, obj)


def write_slowly(el: Element, obj: object) -> None:
    """:func:`write` by interpretation of the declarations (the reference the compiled
    formatters are tested against)."""
    for name, always, writer in _writers(type(obj)):
        value = getattr(obj, name)
        if value is not None or always:
            writer(el, obj, value)


def _leaf_writer(spec: Leaf) -> Writer:
    """The writer of one leaf, specialised for where it lives (the common cases: an
    attribute of the element itself, or of one child)."""
    elems, name = split(spec.path)
    encode = spec.codec.encode
    if spec.many or name is None or len(elems) > 1:
        return lambda el, _obj, value: _write_leaf(el, spec, value)
    if not elems:
        return lambda el, _obj, value: el.set(name, encode(value))
    tag = elems[0]

    def write_child_attribute(el: Element, _obj: Any, value: Any) -> None:
        node = el.find(tag)
        if node is None:
            node = etree.SubElement(el, tag)
        node.set(name, encode(value))
    return write_child_attribute


def _write_leaf(el: Element, spec: Leaf, value: Any) -> None:
    elems, name = _split(spec.path)
    if not spec.many and not elems:
        text = spec.codec.encode(value)
        if name is None:
            el.text = text
        else:
            el.set(name, text)
        return
    for item in (value if spec.many else (value,)):
        node = _new(el, elems) if spec.many else _ensure(el, elems)
        text = spec.codec.encode(item)
        if name is None:
            node.text = text
        else:
            node.set(name, text)
