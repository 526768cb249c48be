"""``<disk>``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pyvirt.domain.model.common import address, alias, boot
from pyvirt.domain.xml.util import Element, attr, make, where
from pyvirt.errors import ConfigUnsupportedError, ParseError
from pyvirt.types import Address
from pyvirt.xmlspec.codecs import TEXT, checked, enum
from pyvirt.xmlspec.fields import Pattern, Shape, custom, flag
from pyvirt.xmlspec.fields import attr as item


class DiskType(StrEnum):
    FILE = "file"
    BLOCK = "block"


class DiskDevice(StrEnum):
    DISK = "disk"
    CDROM = "cdrom"


class DiskBus(StrEnum):
    VIRTIO = "virtio"
    SATA = "sata"
    IDE = "ide"
    SCSI = "scsi"


class DiskFormat(StrEnum):
    RAW = "raw"
    QCOW2 = "qcow2"


def _disk_name(dev: str, el: Element) -> str:
    if not re.fullmatch(r"(hd|sd|vd)[a-z]{1,3}", dev):
        raise ParseError(f"Unknown disk name '{dev}' and no address specified")
    return dev


def _discard(value: str, el: Element) -> str:
    if value not in ("unmap", "ignore"):
        raise ParseError(f"unknown disk discard mode '{value}'{where(el)}")
    return value


def _source_key(kind: str | None) -> str:
    return "dev" if kind == DiskType.BLOCK.value else "file"


def _read_source(el: Element) -> str | None:
    source, kind = el.find("source"), attr(el, "type")
    key = _source_key(kind)
    other = "file" if key == "dev" else "dev"
    if source is not None and attr(source, other) is not None:
        raise ConfigUnsupportedError(
            f"'source/@{other}' is not used by disk type '{kind}'{where(source)}")
    return attr(source, key)


def _write_source(el: Element, disk: Any) -> None:
    if disk.source is not None:
        el.append(make("source", [(_source_key(disk.type.value), disk.source)]))


_SOURCE_BODY = ('<optional><attribute name="file"/></optional>'
                '<optional><attribute name="dev"/></optional>')


@dataclass(frozen=True, kw_only=True)
class Disk:
    """``source`` is the file (``type='file'``) or the block device (``type='block'``)."""

    type: DiskType = item("@type", enum(DiskType, "disk type"), required=True)
    device: DiskDevice = item("@device", enum(DiskDevice, "disk device"),
                              default=DiskDevice.DISK)
    driver_name: str | None = item("driver/@name")
    format: DiskFormat | None = item("driver/@type", enum(DiskFormat, "driver format value"))
    cache: str | None = item("driver/@cache")
    discard: str | None = item("driver/@discard", checked(TEXT, _discard, ("unmap", "ignore")))
    source: str | None = custom(_read_source, _write_source,
                                Shape(children=(Pattern("source", _SOURCE_BODY),)))
    target_dev: str = item("target/@dev", checked(TEXT, _disk_name, ("vda", "sdb", "hdc")),
                           need=True, missing="missing target information for device")
    target_bus: DiskBus | None = item("target/@bus", enum(DiskBus, "disk bus"))
    readonly: bool = flag("readonly")
    boot: int | None = boot()
    alias: str | None = alias()
    address: Address | None = address()
