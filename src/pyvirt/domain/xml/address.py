"""``<address>``, ``<alias>`` and ``<boot>``: device info shared by all devices."""

from __future__ import annotations

from pyvirt.domain.xml.util import Element, attr, int_attr, make, on_off_attr, sub, where
from pyvirt.errors import ParseError
from pyvirt.types import Address, DriveAddress, PciAddress


def parse_pci_address(el: Element) -> PciAddress:
    """Parse a PCI ``<address>`` (``type`` may be absent inside a hostdev ``<source>``)."""
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


def parse_alias(el: Element) -> str | None:
    return attr(el.find("alias"), "name")


def parse_boot(el: Element) -> int | None:
    return int_attr(el.find("boot"), "order", minimum=1)


def format_device_info(parent: Element, *, boot: int | None = None, alias: str | None = None,
                       rom: Element | None = None, address: Address | None = None) -> None:
    """Append boot, alias, rom and address in libvirt's order."""
    if boot is not None:
        sub(parent, "boot", [("order", boot)])
    if alias is not None:
        sub(parent, "alias", [("name", alias)])
    if rom is not None:
        parent.append(rom)
    if address is not None:
        parent.append(format_address(address))
