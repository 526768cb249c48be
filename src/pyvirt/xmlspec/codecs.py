"""Codecs: how one XML string (an attribute value or an element's text) becomes a typed
value and back. Each codec raises the one-line messages pyvirt has always given
(``Invalid value 'x' for 'mtu/@size' (line 3)``), naming the item and its line."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Generic, NamedTuple, TypeVar

from lxml import etree

from pyvirt.errors import ParseError

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
Element = etree._Element

_NUMBER = re.compile(r"-?[0-9]{1,20}|0[xX][0-9a-fA-F]{1,16}")  # ASCII digits only


def where(el: Element | None) -> str:
    line = None if el is None else el.sourceline
    return f" (line {line})" if line else ""


class Codec(NamedTuple, Generic[T]):
    """``decode(raw, what, el)`` reads; ``encode(value)`` writes. ``what`` names the item
    in messages (``mtu/@size``); ``el`` gives the line. ``strip`` and ``empty`` say how
    element text is read: stripped, and whether an empty value counts as absent.
    ``sample`` is a few valid values, for generated tests and documentation."""

    decode: Callable[[str, str, Element], T]
    encode: Callable[[T], str]
    sample: tuple[Any, ...] = ()
    strip: bool = True


def _text(raw: str, what: str, el: Element) -> str:
    return raw


TEXT: Codec[str] = Codec(_text, str, sample=("a", "b-1"))
"""Any string; element text is stripped, an empty value counts as absent (libvirt)."""

RAW_TEXT: Codec[str] = Codec(_text, str, sample=("a b", "x"), strip=False)
"""Element text kept exactly as written (``<cmdline>``, ``<title>``)."""


def parse_number(raw: str, what: str, el: Element, minimum: int, maximum: int) -> int:
    """Decimal or ``0x`` hex within [minimum, maximum].

    :raises ParseError: naming the item and its line.
    """
    text = raw.strip()
    if not _NUMBER.fullmatch(text):
        raise ParseError(f"Invalid value '{raw}' for '{what}'{where(el)}")
    value = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    if not minimum <= value <= maximum:
        raise ParseError(f"Value '{raw}' for '{what}' is out of range{where(el)}")
    return value


def uint(minimum: int = 0, maximum: int = 2**31 - 1, *,
         fmt: Callable[[int], str] = str) -> Codec[int]:
    """An integer in [minimum, maximum]; ``fmt`` writes it (decimal unless told)."""
    def decode(raw: str, what: str, el: Element) -> int:
        return parse_number(raw, what, el, minimum, maximum)
    return Codec(decode, fmt, sample=(minimum, min(maximum, minimum + 7)))


INT = uint()
HEX = uint(0, 255, fmt=lambda v: f"0x{v:x}")


def _choice(table: Mapping[str, bool]) -> Codec[bool]:
    names = {v: k for k, v in table.items()}
    expected = "' or '".join(table)

    def decode(raw: str, what: str, el: Element) -> bool:
        if raw not in table:
            raise ParseError(f"Invalid value '{raw}' for '{what}': expected "
                             f"'{expected}'{where(el)}")
        return table[raw]
    return Codec(decode, names.__getitem__, sample=(True, False))


YES_NO = _choice({"yes": True, "no": False})
ON_OFF = _choice({"on": True, "off": False})


def enum(cls: type[E], label: str) -> Codec[E]:
    """A ``StrEnum`` member; an unknown value is ``unknown LABEL 'x' (line N)``."""
    def decode(raw: str, what: str, el: Element) -> E:
        try:
            return cls(raw)
        except ValueError:
            raise ParseError(f"unknown {label} '{raw}'{where(el)}") from None
    return Codec(decode, lambda v: v.value, sample=tuple(cls))


def checked(base: Codec[T], check: Callable[[T, Element], T],
            sample: tuple[T, ...] | None = None) -> Codec[T]:
    """``base`` followed by ``check(value, el)``, which returns the value or raises;
    ``sample``: valid values, where the base's would not pass the check."""
    def decode(raw: str, what: str, el: Element) -> T:
        return check(base.decode(raw, what, el), el)
    return Codec(decode, base.encode, sample=base.sample if sample is None else sample,
                 strip=base.strip)


def text(*sample: str) -> Codec[str]:
    """Any string, with the values generated tests use (a model name ...)."""
    return Codec(_text, str, sample=sample)


def value_codec(decode: Callable[[str], T], encode: Callable[[T], str],
                sample: tuple[T, ...]) -> Codec[T]:
    """A value type's own parser and printer (``MacAddress.parse``); the parser raises
    its own message."""
    return Codec(lambda raw, _what, _el: decode(raw), encode, sample=sample)


def fixed(value: str) -> Codec[str]:
    """Exactly ``value`` (a discriminator a variant class writes for itself)."""
    def decode(raw: str, what: str, el: Element) -> str:
        if raw != value:
            raise ParseError(f"Invalid value '{raw}' for '{what}'{where(el)}")
        return raw
    return Codec(decode, str, sample=(value,))
