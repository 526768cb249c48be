"""Small devices: input, graphics, video, audio, memballoon, rng."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pyvirt.domain.model.common import address, alias
from pyvirt.domain.xml.util import Element, attr, make
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.types import Address
from pyvirt.xmlspec.codecs import ON_OFF, TEXT, YES_NO, checked, enum, text, uint
from pyvirt.xmlspec.fields import Pattern, Shape, custom
from pyvirt.xmlspec.fields import attr as item


class InputType(StrEnum):
    MOUSE = "mouse"
    KEYBOARD = "keyboard"
    TABLET = "tablet"


class InputBus(StrEnum):
    PS2 = "ps2"
    USB = "usb"
    VIRTIO = "virtio"


def _only(what: str, *allowed: str) -> Any:
    def check(value: str, el: Element) -> str:
        if value not in allowed:
            raise ConfigUnsupportedError(f"{what} '{value}' is not supported by pyvirt")
        return value
    return checked(TEXT, check, allowed)


@dataclass(frozen=True)
class Input:
    type: InputType = item("@type", enum(InputType, "input type"), required=True)
    bus: InputBus | None = item("@bus", enum(InputBus, "input bus"))
    alias: str | None = alias()
    address: Address | None = address()


def _read_listen(el: Element) -> str | None:
    return attr(el, "listen") or attr(el.find("listen"), "address")


def _write_listen(el: Element, dev: Any) -> None:
    if dev.listen is not None:
        el.set("listen", dev.listen)
    # libvirt writes the listen element also without an address (QEMU's default one)
    el.append(make("listen", [("type", "address"), ("address", dev.listen)]))


@dataclass(frozen=True)
class Graphics:
    """``<graphics type='vnc'>``: the only graphics pyvirt drives. ``listen`` is both the
    attribute and the ``<listen type='address'>`` element, as libvirt writes it."""

    type: str = item("@type", _only("graphics type", "vnc"), required=True, default="vnc")
    port: int | None = item("@port", uint(-1, 65535))
    autoport: bool | None = item("@autoport", YES_NO)
    listen: str | None = custom(_read_listen, _write_listen, Shape(
        attributes={"listen": False},
        children=(Pattern("listen", '<attribute name="type"/>'
                          '<optional><attribute name="address"/></optional>',
                          multiple=True),)))


@dataclass(frozen=True)
class Video:
    model: str = item("model/@type", _only("video model", "none", "virtio"), need=True,
                      default="none")
    heads: int | None = item("model/@heads", uint(1))
    primary: bool | None = item("model/@primary", YES_NO)
    alias: str | None = alias()
    address: Address | None = address()


@dataclass(frozen=True)
class Audio:
    id: int = item("@id", uint(1), required=True)
    type: str = item("@type", _only("audio type", "none"), required=True)


@dataclass(frozen=True)
class Memballoon:
    model: str = item("@model", _only("memballoon model", "virtio", "none"), required=True)
    autodeflate: bool | None = item("@autodeflate", ON_OFF)
    stats_period: int | None = item("stats/@period", uint(), need=True)
    alias: str | None = alias()
    address: Address | None = address()


@dataclass(frozen=True, kw_only=True)
class Rng:
    model: str = item("@model", text("virtio"), required=True, default="virtio")
    rate_bytes: int | None = item("rate/@bytes", uint(1), need=True)
    rate_period: int | None = item("rate/@period", uint(1))
    backend_model: str = item("backend/@model", text("random"), need=True, default="random")
    backend: str | None = item("backend", text("/dev/urandom"))
    alias: str | None = alias()
    address: Address | None = address()

    def xml_check(self, el: Element) -> None:
        if self.model != "virtio" or self.backend_model != "random":
            raise ConfigUnsupportedError(
                f"rng model '{self.model}' with backend '{self.backend_model}' is not "
                "supported by pyvirt")
