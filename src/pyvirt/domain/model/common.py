"""Pieces every device may carry: ``<boot order>``, ``<alias>``, ``<rom>``, ``<address>``.

Addresses are the value types of :mod:`pyvirt.types` (PCI, drive), read and written by
the custom items here because their ``type`` attribute picks the value class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyvirt.domain.xml.util import Element, attr, int_attr, make, on_off_attr, where
from pyvirt.errors import ParseError
from pyvirt.types import Address, DriveAddress, PciAddress
from pyvirt.xmlspec.codecs import ON_OFF, YES_NO, uint
from pyvirt.xmlspec.fields import Pattern, Shape, child, custom
from pyvirt.xmlspec.fields import attr as item


@dataclass(frozen=True)
class Rom:
    """``<rom bar='on|off' file='...' enabled='yes|no'/>``."""

    enabled: bool | None = item("@enabled", YES_NO)
    bar: bool | None = item("@bar", ON_OFF)
    file: str | None = item("@file")

ADDRESS_ATTRIBUTES = ("type", "domain", "bus", "slot", "function", "multifunction",
                      "controller", "target", "unit")
ADDRESS_BODY = "".join(f'<optional><attribute name="{a}"/></optional>'
                       for a in ADDRESS_ATTRIBUTES)


def parse_pci_address(el: Element) -> PciAddress:
    """A PCI ``<address>`` (``type`` may be absent inside a hostdev ``<source>``)."""
    return PciAddress(
        domain=int_attr(el, "domain", maximum=0xFFFF) or 0,
        bus=int_attr(el, "bus", maximum=0xFF) or 0,
        slot=int_attr(el, "slot", maximum=0x1F) or 0,
        function=int_attr(el, "function", maximum=0x7) or 0,
        multifunction=on_off_attr(el, "multifunction"),
    )


def parse_address(el: Element | None) -> Address | None:
    """:raises ParseError: for address types pyvirt does not model."""
    if el is None:
        return None
    kind = attr(el, "type")
    if kind == "pci":
        return parse_pci_address(el)
    if kind == "drive":
        return DriveAddress(
            controller=int_attr(el, "controller") or 0, bus=int_attr(el, "bus") or 0,
            target=int_attr(el, "target") or 0, unit=int_attr(el, "unit") or 0)
    raise ParseError(f"unsupported address type '{kind}'{where(el)}")


def format_pci_address(addr: PciAddress, *, with_type: bool = True) -> Element:
    mf = None if addr.multifunction is None else ("on" if addr.multifunction else "off")
    return make("address", [
        ("type", "pci" if with_type else None),
        ("domain", f"0x{addr.domain:04x}"), ("bus", f"0x{addr.bus:02x}"),
        ("slot", f"0x{addr.slot:02x}"), ("function", f"0x{addr.function:x}"),
        ("multifunction", mf),
    ])


def format_address(addr: Address) -> Element:
    if isinstance(addr, PciAddress):
        return format_pci_address(addr)
    return make("address", [
        ("type", "drive"), ("controller", addr.controller), ("bus", addr.bus),
        ("target", addr.target), ("unit", addr.unit),
    ])


def _write_address(el: Element, obj: Any) -> None:
    if obj.address is not None:
        el.append(format_address(obj.address))


def address() -> Any:
    """The device's ``<address>`` (PCI or drive)."""
    return custom(lambda el: parse_address(el.find("address")), _write_address,
                  Shape(children=(Pattern("address", ADDRESS_BODY),)))


def rom() -> Any:
    """The device's ``<rom>``."""
    return child("rom", Rom)


def alias() -> Any:
    """The device's ``<alias name>``."""
    return item("alias/@name", need=True)


def boot() -> Any:
    """The device's ``<boot order>``."""
    return item("boot/@order", uint(1), need=True)


def source_pci_address(*, missing: str, with_type: bool, field: str,
                       required: bool = False) -> Any:
    """A host PCI address in ``<source><address .../></source>`` (a VF, a hostdev):
    *missing* is the message when there is none; *with_type* whether ``type='pci'`` is
    written; *field* the attribute of the object holding it."""
    def read(el: Element) -> PciAddress:
        node = el.find("source/address")
        if node is None:
            raise ParseError(missing)
        return parse_pci_address(node)

    def write(el: Element, obj: Any) -> None:
        source = el.find("source")
        if source is None:
            source = el.makeelement("source", {})
            el.append(source)
        source.append(format_pci_address(getattr(obj, field), with_type=with_type))

    body = "".join(f'<optional><attribute name="{a}"/></optional>'
                   for a in ("type", "domain", "bus", "slot", "function", "multifunction"))
    return custom(read, write, Shape(children=(Pattern("source/address", body, required),)),
                  default=PciAddress())
