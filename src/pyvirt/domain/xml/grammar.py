"""pyvirt's RelaxNG schemas, and one-line explanations of why a document fails them.

RelaxNG's own error log is vague, so a failure is explained by walking the document
against a flattened view of the same schema (which attributes and child elements each
element allows, which are required, which may repeat), giving one line that names the
element or attribute and its line.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

from lxml import etree

from pyvirt.errors import InternalError

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"

_RNG_NS = "{http://relaxng.org/ns/structure/1.0}"
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


@dataclass(frozen=True)
class Wording:
    """How an explanation names an item the schema does not have: ``{name}`` is the
    attribute or element, ``{parent}`` the element holding it (``<forward>``). A kind of
    document may keep its own words (a network's "only hostdev networks are")."""

    attribute: str = "unsupported attribute '{name}' on {parent}"
    element: str = "unsupported element <{name}> in {parent}"


DEFAULT_WORDING = Wording()


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

    def explain(self, el: _Element, child: _Child,
                wording: Wording = DEFAULT_WORDING) -> str | None:
        """The first reason ``el`` does not match ``child.pattern``, or None if none is found."""
        shape = self._shapes[child.pattern]
        if shape.any_attribute and "*" in shape.children:
            return None  # free-form content such as <metadata>
        here, at = f"<{element_name(el)}>", position(el)
        for attr in el.attrib:
            if attr not in shape.attributes and not shape.any_attribute:
                name = _attr_name(el, str(attr))
                return wording.attribute.format(name=name, parent=here) + at
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
                return (wording.element.format(name=element_name(kid), parent=here)
                        + position(kid))
            if kid.tag in seen and not rule.multiple:
                return (f"element <{element_name(kid)}> may appear only once in "
                        f"{here}{position(kid)}")
            seen.add(kid.tag)
        for name, rule in shape.children.items():
            if rule.required and name not in seen:
                return f"missing required element <{name}> in {here}{at}"
        for required, branches in shape.choices:
            problem = _check_choice(seen, required, branches)
            if problem:
                return f"{problem} in {here}{at}"
        for kid, rule in kids:
            problem = self.explain(kid, cast(_Child, rule), wording)
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


def element_name(el: _Element) -> str:
    return f"{el.prefix}:{etree.QName(el).localname}" if el.prefix else el.tag


def _attr_name(el: _Element, attr: str) -> str:
    uri, _, local = attr[1:].rpartition("}") if attr.startswith("{") else ("", "", attr)
    prefix = next((p for p, u in el.nsmap.items() if u == uri and p), None) if uri else None
    return f"{prefix}:{local}" if prefix else attr


def position(el: _Element) -> str:
    return f" (line {el.sourceline})" if el.sourceline else ""


@functools.cache
def grammar(name: str) -> _Grammar:
    """The compiled schema ``name``; compiled once per process, on first use."""
    return _Grammar(name)
