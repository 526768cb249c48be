"""Disks: a ``-blockdev`` protocol node, a ``-blockdev`` format node, then the ``-device``.

Node names are ``libvirt-<N>-storage`` / ``libvirt-<N>-format``. libvirt numbers them
from a per-domain counter while walking the disks from the last to the first, so the
last disk is 1 and the first has the highest number. An empty CD-ROM has no nodes but
still uses up its number (checked against libvirt 9.0's ``domxml-to-native``).
"""

from __future__ import annotations

from pyvirt.domain.model import ControllerType, Disk, DiskBus, DiskDevice, DiskFormat, DiskType
from pyvirt.errors import ConfigUnsupportedError, InternalError
from pyvirt.qemu.aliases import drive_address
from pyvirt.qemu.command.context import BuildContext, PropList
from pyvirt.qemu.command.props import JSON_NULL, JsonValue, props, to_json

# cache mode → (cache.direct, cache.no-flush, guest-visible write cache), as libvirt.
_CACHE_MODES = {
    "none": (True, False, True),
    "writethrough": (False, False, False),
    "writeback": (False, False, True),
    "directsync": (True, False, False),
    "unsafe": (False, True, True),
}
_CONTROLLER_OF_BUS = {DiskBus.IDE: ControllerType.IDE, DiskBus.SATA: ControllerType.SATA,
                      DiskBus.SCSI: ControllerType.SCSI}


def _cache(disk: Disk) -> tuple[JsonValue, str | None]:
    """The ``cache`` object of both nodes and the device's ``write-cache``.

    :raises ConfigUnsupportedError: for an unknown cache mode.
    """
    if disk.cache in (None, "default"):
        return None, None
    mode = _CACHE_MODES.get(disk.cache or "")
    if mode is None:
        raise ConfigUnsupportedError(f"unknown disk cache mode '{disk.cache}'")
    direct, no_flush, write_cache = mode
    return {"direct": direct, "no-flush": no_flush}, "on" if write_cache else "off"


def _blockdevs(disk: Disk, number: int) -> list[str]:
    storage, fmt = f"libvirt-{number}-storage", f"libvirt-{number}-format"
    cache, _ = _cache(disk)
    protocol = props(
        ("driver", "host_device" if disk.type is DiskType.BLOCK else "file"),
        ("filename", disk.source), ("node-name", storage), ("cache", cache),
        ("auto-read-only", True), ("discard", "unmap"))
    image = disk.format or DiskFormat.RAW
    read_only = disk.readonly or disk.device is DiskDevice.CDROM
    # pyvirt does not model backing chains: "backing": null stops QEMU from opening a
    # backing file named inside an untrusted qcow2 header (libvirt does the same once it
    # knows the chain ends there).
    backing = JSON_NULL if image is DiskFormat.QCOW2 else None
    layer = props(("node-name", fmt), ("read-only", read_only), ("discard", disk.discard),
                  ("cache", cache),
                  ("driver", image.value), ("file", storage), ("backing", backing))
    return ["-blockdev", to_json(protocol), "-blockdev", to_json(layer)]


def _controller_alias(ctx: BuildContext, disk: Disk, bus: DiskBus, index: int) -> str:
    """:raises InternalError: when the disk's controller does not exist."""
    ctl = ctx.controller(_CONTROLLER_OF_BUS[bus], index)
    if ctl is None or not ctl.alias:
        raise InternalError(f"could not find {bus.value} controller with index {index} "
                            f"for disk '{disk.target_dev}'")
    return ctl.alias


def _placement(ctx: BuildContext, disk: Disk, bus: DiskBus) -> tuple[str, PropList]:
    """The QEMU driver and the bus properties that precede ``drive``.

    :raises ConfigUnsupportedError: for combinations QEMU cannot run.
    :raises InternalError: when the disk's controller is missing.
    """
    cdrom = disk.device is DiskDevice.CDROM
    if bus is DiskBus.VIRTIO:
        if cdrom:
            raise ConfigUnsupportedError("disk device 'cdrom' cannot use bus 'virtio'")
        return "virtio-blk-pci", ctx.pci_props(disk.address, f"disk '{disk.target_dev}'")
    addr = drive_address(disk)
    parent = _controller_alias(ctx, disk, bus, addr.controller)
    if bus is DiskBus.IDE:
        return ("ide-cd" if cdrom else "ide-hd"), [("bus", f"{parent}.{addr.bus}"),
                                                   ("unit", addr.unit)]
    if bus is DiskBus.SATA:  # one port per unit on AHCI
        return ("ide-cd" if cdrom else "ide-hd"), [("bus", f"{parent}.{addr.unit}")]
    return ("scsi-cd" if cdrom else "scsi-hd"), [
        ("bus", f"{parent}.0"), ("channel", addr.bus), ("scsi-id", addr.target),
        ("lun", addr.unit), ("device_id", f"drive-{disk.alias}")]


def _disk_device(ctx: BuildContext, disk: Disk, number: int | None) -> str:
    bus = disk.target_bus or DiskBus.VIRTIO
    driver, placement = _placement(ctx, disk, bus)
    _, write_cache = _cache(disk)
    drive = f"libvirt-{number}-format" if number is not None else None
    return to_json(props(("driver", driver), *placement, ("drive", drive),
                         ("id", disk.alias), ("bootindex", disk.boot),
                         ("write-cache", write_cache)))


def disk_args(ctx: BuildContext) -> list[str]:
    """Every disk in document order: its block nodes, then its device.

    :raises ConfigUnsupportedError: for unsupported disk configurations.
    :raises InternalError: when a disk's controller is missing.
    """
    disks = ctx.domain.devices.disks
    args: list[str] = []
    for position, disk in enumerate(disks):
        number = len(disks) - position if disk.source else None
        if disk.device is DiskDevice.DISK and number is None:
            raise ConfigUnsupportedError(f"disk '{disk.target_dev}' has no source")
        if number is not None:
            args += _blockdevs(disk, number)
        args += ["-device", _disk_device(ctx, disk, number)]
    return args
