"""Small typed helpers for reading and writing libvirt-style XML elements."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

from lxml import etree

from pyvirt.errors import ParseError

Element = etree._Element

_YES_NO = {"yes": True, "no": False}
_ON_OFF = {"on": True, "off": False}


def where(el: Element) -> str:
    line = el.sourceline
    return f" (line {line})" if line else ""


def text_of(el: Element | None) -> str | None:
    """Stripped text of *el*, or None when *el* is absent or empty."""
    if el is None or el.text is None:
        return None
    value = el.text.strip()
    return value or None


def child_text(el: Element, tag: str) -> str | None:
    return text_of(el.find(tag))


def attr(el: Element | None, name: str) -> str | None:
    """An attribute value; libvirt treats an empty attribute as missing."""
    if el is None:
        return None
    value = el.get(name)
    return value if value else None


def parse_int(text: str, what: str, el: Element, *, minimum: int = 0,
              maximum: int = 2**31 - 1) -> int:
    """Parse decimal or ``0x`` hex within [minimum, maximum].

    :raises ParseError: naming the attribute and line on any bad value.
    """
    raw = text.strip()
    if not re.fullmatch(r"-?[0-9]{1,20}|0[xX][0-9a-fA-F]{1,16}", raw):  # ASCII only
        raise ParseError(f"Invalid value '{text}' for '{what}'{where(el)}")
    value = int(raw, 16) if raw.lower().startswith("0x") else int(raw, 10)
    if not minimum <= value <= maximum:
        raise ParseError(f"Value '{text}' for '{what}' is out of range{where(el)}")
    return value


def int_attr(el: Element | None, name: str, *, minimum: int = 0,
             maximum: int = 2**31 - 1) -> int | None:
    if el is None:
        return None
    raw = attr(el, name)
    if raw is None:
        return None
    return parse_int(raw, f"{el.tag}/@{name}", el, minimum=minimum, maximum=maximum)


def _bool(el: Element | None, name: str, table: dict[str, bool]) -> bool | None:
    raw = attr(el, name)
    if raw is None or el is None:
        return None
    if raw not in table:
        choices = "' or '".join(table)
        raise ParseError(
            f"Invalid value '{raw}' for '{el.tag}/@{name}': expected '{choices}'{where(el)}")
    return table[raw]


def yes_no_attr(el: Element | None, name: str) -> bool | None:
    return _bool(el, name, _YES_NO)


def on_off_attr(el: Element | None, name: str) -> bool | None:
    return _bool(el, name, _ON_OFF)


E = TypeVar("E", bound=StrEnum)


def enum_value(cls: type[E], raw: str, what: str, el: Element) -> E:
    """Look *raw* up in StrEnum *cls*. :raises ParseError: for unknown values."""
    try:
        return cls(raw)
    except ValueError:
        raise ParseError(f"unknown {what} '{raw}'{where(el)}") from None


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def on_off(value: bool) -> str:
    return "on" if value else "off"


def make(tag: str, attrs: Iterable[tuple[str, str | int | None]] = (),
         text: str | None = None) -> Element:
    """Build an element, skipping attributes whose value is None (order is kept)."""
    el = etree.Element(tag)
    for key, value in attrs:
        if value is not None:
            el.set(key, str(value))
    if text is not None:
        el.text = text
    return el


def sub(parent: Element, tag: str, attrs: Iterable[tuple[str, str | int | None]] = (),
        text: str | None = None) -> Element:
    el = make(tag, attrs, text)
    parent.append(el)
    return el


def append(parent: Element, child: Element | None) -> None:
    if child is not None:
        parent.append(child)
