"""``<disk>`` parse/format."""

from __future__ import annotations

import re

from pyvirt.domain.model.disk import Disk, DiskBus, DiskDevice, DiskFormat, DiskType
from pyvirt.domain.xml.address import format_device_info, parse_address, parse_alias, parse_boot
from pyvirt.domain.xml.util import Element, attr, enum_value, make, sub, where
from pyvirt.errors import ParseError


def parse_disk(el: Element) -> Disk:
    """:raises PyvirtError: for unsupported types, buses or formats."""
    kind = enum_value(DiskType, attr(el, "type") or "file", "disk type", el)
    device = enum_value(DiskDevice, attr(el, "device") or "disk", "disk device", el)
    target = el.find("target")
    dev = attr(target, "dev")
    if dev is None:
        raise ParseError(f"missing target information for device{where(el)}")
    if not re.fullmatch(r"(hd|sd|vd)[a-z]{1,3}", dev):
        raise ParseError(f"Unknown disk name '{dev}' and no address specified")
    bus = attr(target, "bus")
    driver = el.find("driver")
    fmt = attr(driver, "type")
    source = el.find("source")
    return Disk(
        type=kind, device=device, target_dev=dev,
        source=attr(source, "file" if kind is DiskType.FILE else "dev"),
        target_bus=enum_value(DiskBus, bus, "disk bus", target) if bus and target is not None
        else None,
        driver_name=attr(driver, "name"),
        format=enum_value(DiskFormat, fmt, "driver format value", driver)
        if fmt and driver is not None else None,
        cache=attr(driver, "cache"),
        readonly=el.find("readonly") is not None,
        boot=parse_boot(el), alias=parse_alias(el), address=parse_address(el.find("address")),
    )


def format_disk(disk: Disk) -> Element:
    el = make("disk", [("type", disk.type.value), ("device", disk.device.value)])
    if disk.driver_name or disk.format or disk.cache:
        sub(el, "driver", [("name", disk.driver_name),
                           ("type", disk.format.value if disk.format else None),
                           ("cache", disk.cache)])
    if disk.source is not None:
        key = "file" if disk.type is DiskType.FILE else "dev"
        sub(el, "source", [(key, disk.source)])
    sub(el, "target", [("dev", disk.target_dev),
                       ("bus", disk.target_bus.value if disk.target_bus else None)])
    if disk.readonly:
        sub(el, "readonly")
    format_device_info(el, boot=disk.boot, alias=disk.alias, address=disk.address)
    return el
