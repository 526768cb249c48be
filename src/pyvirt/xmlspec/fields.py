"""Declarations: each XML item is declared once, on the frozen dataclass field that
holds it. The engine (:mod:`pyvirt.xmlspec.engine`) derives parsing and formatting, and
:mod:`pyvirt.xmlspec.rng` the RelaxNG grammar, from these declarations alone.

Paths are relative to the element of the class: ``@a`` (an attribute), ``x/@a`` (an
attribute of child ``x``), ``x`` (the text of child ``x``), ``.`` (the element's own
text), ``x/y/@a`` and so on. Declaration order is libvirt's output order: an element is
written where the first field that writes into it stands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, field
from types import MappingProxyType
from typing import Any, NamedTuple

from lxml import etree

from pyvirt.xmlspec.codecs import TEXT, Codec, fixed

Element = etree._Element
KEY = "pyvirt.xml"


def split(path: str) -> tuple[tuple[str, ...], str | None]:
    """``a/b/@c`` -> (("a", "b"), "c"); ``a/b`` -> (("a", "b"), None); ``.`` -> ((), None)."""
    parts = [] if path == "." else path.split("/")
    if parts and parts[-1].startswith("@"):
        return tuple(parts[:-1]), parts[-1][1:]
    return tuple(parts), None


class Leaf(NamedTuple):
    """A value stored as one attribute or one element's text.

    ``required``: present whenever the parent is (schema and parser). ``need``: required
    inside its own element only, which itself may be absent. ``missing``: the message
    when a model-required item is absent. ``many``: a tuple, one element per value."""

    path: str
    codec: Codec[Any]
    required: bool = False
    need: bool = False
    missing: str | None = None
    many: bool = False


class Flag(NamedTuple):
    """``True`` when the (empty) element at ``path`` is present."""

    path: str


class Union(NamedTuple):
    """One of several dataclasses, chosen by the attribute ``on`` (``@type``).

    As a field's own declaration the variants share the element of the class that holds
    it (an interface's source kinds); inside :class:`Child` each variant is the whole child
    element (a hostdev). ``unknown(raw, el)`` raises for a value no variant has; ``select``
    replaces the lookup for the rare case needing more than the attribute."""

    on: str
    variants: Mapping[str, type]
    unknown: Callable[[str | None, Element], Exception] | None = None
    default: str | None = None
    select: Callable[[Element], type] | None = None


class Child(NamedTuple):
    """A nested dataclass (or a :class:`Union` of them) at element ``path``."""

    path: str
    target: type | Union
    many: bool = False
    required: bool = False


class Pattern(NamedTuple):
    """A child element in a custom item's grammar: ``body`` is RelaxNG content (in the
    RelaxNG namespace as default), e.g. ``<attribute name="name"/>``."""

    name: str
    body: str = "<empty/>"
    required: bool = False
    multiple: bool = False


class Shape(NamedTuple):
    """A custom item's contribution to the grammar of the element that holds it."""

    attributes: Mapping[str, bool] = MappingProxyType({})  # name -> required
    children: tuple[Pattern, ...] = ()
    text: bool = False


class Custom(NamedTuple):
    """The escape hatch: ``read(el)`` gets the holding element and returns the value (None
    when absent); ``write(el, obj)`` gets the holding element and the whole object;
    ``shape`` says what the item allows in the grammar."""

    read: Callable[[Element], Any]
    write: Callable[[Element, Any], None]
    shape: Shape


Spec = Leaf | Flag | Union | Child | Custom


def _field(spec: Spec, default: Any = None, factory: Any = MISSING,
           required: bool = False) -> Any:
    meta = {KEY: spec}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=meta)
    if required:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def attr(path: str, codec: Codec[Any] = TEXT, *, required: bool = False, need: bool = False,
         missing: str | None = None, default: Any = None) -> Any:
    """A value at ``path`` (see the module docstring)."""
    return _field(Leaf(path, codec, required, need, missing), default,
                  required=(required or missing is not None) and default is None)


def const(path: str, value: str, *, required: bool = True) -> Any:
    """A fixed value a variant writes for itself (``@type='pci'``); not an init argument.
    ``required=False``: the grammar lets the item be absent, leaving the union holding
    the variant to judge a document without it (a network's ``<forward>``)."""
    return field(init=False, default=value,
                 metadata={KEY: Leaf(path, fixed(value), required=required)})


def many(path: str, codec: Codec[Any] = TEXT) -> Any:
    """A tuple: one element at ``path`` per value (``boot/@dev``)."""
    return _field(Leaf(path, codec, need=True, many=True), factory=tuple)


def flag(path: str) -> Any:
    """A bool: whether the empty element at ``path`` is present."""
    return _field(Flag(path), False)


def child(path: str, target: type | Union, *, required: bool = False,
          factory: Any = MISSING) -> Any:
    """A nested dataclass at element ``path``; ``factory`` gives the value when absent
    (and the element is then always written)."""
    return _field(Child(path, target, required=required), factory=factory,
                  required=required)


def children(path: str, target: type | Union, *, required: bool = False) -> Any:
    """A tuple of nested dataclasses, one element at ``path`` each (``required``: at
    least one)."""
    return _field(Child(path, target, many=True, required=required), factory=tuple)


def union(on: str, variants: Mapping[str, type], *,
          unknown: Callable[[str | None, Element], Exception] | None = None,
          default: str | None = None) -> Any:
    """A tagged union sharing the holding element (see :class:`Union`)."""
    return _field(Union(on, variants, unknown, default), required=True)


def custom(read: Callable[[Element], Any], write: Callable[[Element, Any], None],
           shape: Shape, *, default: Any = None) -> Any:
    return _field(Custom(read, write, shape), default)


def spec_of(meta: Mapping[str, Any]) -> Spec | None:
    value = meta.get(KEY)
    return value if isinstance(value, Leaf | Flag | Union | Child | Custom) else None
