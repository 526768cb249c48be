"""``<serial>``, ``<console>`` and ``<channel>``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyvirt.domain.model.common import address, alias
from pyvirt.domain.xml.util import Element
from pyvirt.errors import ConfigUnsupportedError, ParseError
from pyvirt.types import Address
from pyvirt.xmlspec.codecs import ON_OFF, TEXT, Codec, checked, uint, where
from pyvirt.xmlspec.fields import attr, child, const


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
    target_model: str | None = attr("target/model/@name", need=True)
    alias: str | None = alias()
    address: Address | None = address()

    def xml_check(self, el: Element) -> None:
        if self.type in (CharType.FILE, CharType.UNIX) and self.path is None:
            raise ParseError("Missing source path attribute for char device")


# libvirt's character device types; pyvirt runs the ones in CharType.
LIBVIRT_CHAR_TYPES = frozenset({"null", "vc", "pty", "dev", "file", "pipe", "stdio", "udp",
                                "tcp", "unix", "spicevmc", "spiceport", "nmdm",
                                "qemu-vdagent", "dbus"})


def _channel_type(raw: str, what: str, el: Element) -> CharType:
    try:
        return CharType(raw)
    except ValueError:
        if raw in LIBVIRT_CHAR_TYPES:
            raise ConfigUnsupportedError(
                f"channel type '{raw}' is not supported by pyvirt{where(el)}") from None
        raise ParseError(f"unknown channel type '{raw}'{where(el)}") from None


def _virtio_target(raw: str, what: str, el: Element) -> str:
    if raw != "virtio":
        raise ConfigUnsupportedError(
            f"channel target type '{raw}' is not supported by pyvirt{where(el)}")
    return raw


def _source_mode(value: str, el: Element) -> str:
    if value not in ("bind", "connect"):
        raise ParseError(f"Unknown source mode '{value}'{where(el)}")
    return value


@dataclass(frozen=True)
class VirtioSerialAddress:
    """``<address type='virtio-serial' controller bus port>``: a port of a
    virtio-serial controller."""

    type: str = const("@type", "virtio-serial")
    controller: int = attr("@controller", uint(0, 255), default=0)
    bus: int = attr("@bus", uint(0, 255), default=0)
    port: int | None = attr("@port", uint(1, 31))


@dataclass(frozen=True, kw_only=True)
class Channel:
    """``<channel>`` with a virtio target (a virtio-serial port, e.g. the guest agent's
    ``org.qemu.guest_agent.0``). A unix channel without a path gets one per domain when
    it starts, as libvirt does; its ``mode`` is then ``bind``."""

    type: CharType = attr("@type", Codec(_channel_type, lambda v: v.value,
                                         sample=tuple(CharType)), required=True)
    mode: str | None = attr("source/@mode", checked(TEXT, _source_mode, ("bind", "connect")))
    path: str | None = attr("source/@path")
    target_type: str = attr("target/@type", Codec(_virtio_target, str, sample=("virtio",)),
                            need=True, default="virtio")
    target_name: str | None = attr("target/@name")
    alias: str | None = alias()
    address: VirtioSerialAddress | None = child("address", VirtioSerialAddress)

    def xml_check(self, el: Element) -> None:
        if self.type is CharType.FILE and self.path is None:
            raise ParseError("Missing source path attribute for char device")
