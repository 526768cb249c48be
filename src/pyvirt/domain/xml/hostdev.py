"""``<hostdev>`` parse/format."""

from __future__ import annotations

from pyvirt.domain.model.hostdev import Hostdev, PciHostdev, UsbHostdev
from pyvirt.domain.xml.address import (
    format_device_info,
    format_pci_address,
    parse_address,
    parse_alias,
    parse_boot,
    parse_pci_address,
)
from pyvirt.domain.xml.common import format_rom, parse_rom
from pyvirt.domain.xml.teaming import format_teaming, parse_hostdev_teaming
from pyvirt.domain.xml.util import Element, attr, make, sub, yes_no, yes_no_attr
from pyvirt.errors import ConfigUnsupportedError, ParseError


def parse_hostdev(el: Element) -> Hostdev:
    """:raises PyvirtError: for non-subsystem modes, unknown types, bad teaming."""
    mode, kind = attr(el, "mode") or "subsystem", attr(el, "type")
    is_pci = mode == "subsystem" and kind == "pci"
    teaming = parse_hostdev_teaming(el, is_pci=is_pci)
    if mode != "subsystem":
        raise ConfigUnsupportedError(f"hostdev mode '{mode}' is not supported by pyvirt")
    source = el.find("source")
    if kind == "usb":
        return UsbHostdev(
            vendor=attr(source.find("vendor") if source is not None else None, "id"),
            product=attr(source.find("product") if source is not None else None, "id"),
            managed=yes_no_attr(el, "managed"), alias=parse_alias(el))
    if kind != "pci":
        raise ConfigUnsupportedError(f"hostdev type '{kind}' is not supported by pyvirt")
    address = source.find("address") if source is not None else None
    if address is None:
        raise ParseError("PCI host devices must use 'pci' or 'unassigned' address type")
    return PciHostdev(
        source=parse_pci_address(address), managed=yes_no_attr(el, "managed"),
        driver=attr(el.find("driver"), "name"), teaming=teaming, boot=parse_boot(el),
        rom=parse_rom(el), alias=parse_alias(el), address=parse_address(el.find("address")))


def format_hostdev(dev: Hostdev) -> Element:
    managed = None if dev.managed is None else yes_no(dev.managed)
    if isinstance(dev, UsbHostdev):
        el = make("hostdev", [("mode", "subsystem"), ("type", "usb"), ("managed", managed)])
        source = sub(el, "source")
        if dev.vendor is not None:
            sub(source, "vendor", [("id", dev.vendor)])
        if dev.product is not None:
            sub(source, "product", [("id", dev.product)])
        format_device_info(el, alias=dev.alias)
        return el
    el = make("hostdev", [("mode", "subsystem"), ("type", "pci"), ("managed", managed)])
    if dev.driver is not None:
        sub(el, "driver", [("name", dev.driver)])
    sub(el, "source").append(format_pci_address(dev.source, with_type=False))
    if dev.teaming is not None:
        el.append(format_teaming(dev.teaming))
    format_device_info(el, boot=dev.boot, alias=dev.alias, rom=format_rom(dev.rom),
                       address=dev.address)
    return el
