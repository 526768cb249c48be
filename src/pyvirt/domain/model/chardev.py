"""``<serial>`` and ``<console>``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyvirt.domain.model.common import address, alias
from pyvirt.domain.xml.util import Element
from pyvirt.errors import ParseError
from pyvirt.types import Address
from pyvirt.xmlspec.codecs import ON_OFF, Codec, uint, where
from pyvirt.xmlspec.fields import attr


class CharType(StrEnum):
    PTY = "pty"
    FILE = "file"
    UNIX = "unix"


def _char_type(raw: str, what: str, el: Element) -> CharType:
    try:
        return CharType(raw)
    except ValueError:
        raise ParseError(f"unknown {el.tag} type '{raw}'{where(el)}") from None


CHAR_TYPE = Codec(_char_type, lambda v: v.value, sample=tuple(CharType))


@dataclass(frozen=True, kw_only=True)
class CharDevice:
    """A serial port or console. ``path``/``append`` for file, ``path``/``mode`` for unix
    (mode ``bind`` = QEMU listens); ``target_type`` is e.g. ``isa-serial`` or ``serial``."""

    type: CharType = attr("@type", CHAR_TYPE, required=True)
    mode: str | None = attr("source/@mode")
    path: str | None = attr("source/@path")
    append: bool | None = attr("source/@append", ON_OFF)
    log_file: str | None = attr("log/@file", need=True)
    log_append: bool | None = attr("log/@append", ON_OFF)
    target_type: str | None = attr("target/@type")
    target_port: int | None = attr("target/@port", uint(0, 255))
    alias: str | None = alias()
    address: Address | None = address()

    def xml_check(self, el: Element) -> None:
        if self.type in (CharType.FILE, CharType.UNIX) and self.path is None:
            raise ParseError("Missing source path attribute for char device")
