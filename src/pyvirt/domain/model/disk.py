"""``<disk>``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyvirt.types import Address


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


@dataclass(frozen=True)
class Disk:
    type: DiskType
    target_dev: str
    device: DiskDevice = DiskDevice.DISK
    source: str | None = None
    target_bus: DiskBus | None = None
    driver_name: str | None = None
    format: DiskFormat | None = None
    cache: str | None = None
    readonly: bool = False
    boot: int | None = None
    alias: str | None = None
    address: Address | None = None
