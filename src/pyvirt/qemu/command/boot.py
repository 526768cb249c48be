"""Boot order: ``<os><boot dev=.../>`` turned into per-device ``bootindex`` values."""

from __future__ import annotations

from dataclasses import replace

from pyvirt.domain.model import DiskDevice, Domain, PciHostdev

# libvirt boot device names → the kind of device that gets the position as bootindex.
_BOOT_DEVS = ("hd", "cdrom", "network")


def _has_device_boot(domain: Domain) -> bool:
    d = domain.devices
    return (any(disk.boot is not None for disk in d.disks)
            or any(nic.boot is not None for nic in d.interfaces)
            or any(isinstance(h, PciHostdev) and h.boot is not None for h in d.hostdevs))


def apply_boot_order(domain: Domain) -> Domain:
    """*domain* with libvirt's effective boot indexes set on its devices (pure).

    Per-device ``<boot order>`` elements win: when any device has one, the ``<os>`` boot
    list is ignored (libvirt refuses the mix; pyvirt's validation decides, not the
    builder). Otherwise each entry of the list at position *p* (from 1) gives index *p*:
    ``hd`` to the first ``device='disk'`` disk, ``cdrom`` to the first CD-ROM and
    ``network`` to the first interface (libvirt's ``qemuProcessPrepareDeviceBootorder``;
    ``fd`` has no device in pyvirt). A hostdev-type first interface gets it on its
    vfio-pci device, which the builder takes from the interface itself.
    """
    boot_devs = domain.os.boot_devs
    if not boot_devs or _has_device_boot(domain):
        return domain
    position = {dev: boot_devs.index(dev) + 1 for dev in _BOOT_DEVS if dev in boot_devs}
    disks = list(domain.devices.disks)
    for kind, name in ((DiskDevice.DISK, "hd"), (DiskDevice.CDROM, "cdrom")):
        first = next((i for i, disk in enumerate(disks) if disk.device is kind), None)
        if first is not None and name in position:
            disks[first] = replace(disks[first], boot=position[name])
    nics = list(domain.devices.interfaces)
    if nics and "network" in position:
        nics[0] = replace(nics[0], boot=position["network"])
    devices = replace(domain.devices, disks=tuple(disks), interfaces=tuple(nics))
    return replace(domain, devices=devices)

