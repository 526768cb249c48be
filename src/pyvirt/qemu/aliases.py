"""libvirt's automatic device aliases, assigned when a domain starts (pure).

The alias is also the QEMU device ``id``, so these names are what QMP, events and
``failover_pair_id`` refer to. The rules follow libvirt's ``qemu_alias.c`` (reference A.4):

* interfaces: ``netN`` with N one above the highest ``netN`` already in use; an interface
  of type ``hostdev`` is a host device for QEMU and gets ``hostdevN`` instead, counted
  together with the ``<hostdev>`` elements, which are named after all interfaces;
* disks: ``virtio-disk<index of the target name>`` (vda → 0), or, for drive-addressed
  buses, ``<bus><controller>-<bus>-<unit>`` (SCSI adds the target: ``scsi0-0-0-0``);
* controllers: ``pci.<index>`` (``pcie.0`` for pcie-root), ``usb`` for USB 0, ``ide`` for
  the built-in IDE (i440fx) and SATA (q35) controller 0, else ``<type><index>``;
* serials, consoles, channels, inputs, videos and RNGs: ``<kind><position>``; a first console that
  only mirrors the first serial port shares its alias; the balloon is ``balloon0``.

Aliases already present (user ``ua-`` aliases, or a live definition) are never changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol, TypeVar

from pyvirt.domain.model import (
    CharDevice,
    Controller,
    ControllerType,
    Disk,
    DiskBus,
    Domain,
    Hostdev,
    Interface,
    InterfaceType,
    PciModel,
)
from pyvirt.qemu.machine import is_i440fx, is_q35
from pyvirt.types import DriveAddress


class _Aliased(Protocol):
    @property
    def alias(self) -> str | None: ...


D = TypeVar("D", bound=_Aliased)

_DISK_PREFIXES = ("xvd", "ubd", "hd", "sd", "vd")
_MAX_UNITS = {DiskBus.IDE: 2, DiskBus.SATA: 6, DiskBus.SCSI: 7}


def _named(dev: D, alias: str) -> D:
    """*dev* with *alias*, unless it already has one."""
    if dev.alias:
        return dev
    return replace(dev, alias=alias)  # type: ignore[type-var]  # every device is a dataclass


def disk_index(target_dev: str) -> int:
    """libvirt's ``virDiskNameToIndex``: ``vda`` → 0, ``vdz`` → 25, ``vdaa`` → 26.

    :raises ValueError: when *target_dev* has no known prefix or no letters after it.
    """
    prefix = next((p for p in _DISK_PREFIXES if target_dev.startswith(p)), None)
    letters = re.match(r"[a-z]+", target_dev[len(prefix):]) if prefix else None
    if prefix is None or letters is None:
        raise ValueError(f"invalid disk target name '{target_dev}'")
    index = 0
    for ch in letters.group():
        index = index * 26 + (ord(ch) - ord("a") + 1)
    return index - 1


def drive_address(disk: Disk) -> DriveAddress:
    """The disk's drive address, or the one libvirt derives from its target name.

    Defaults normally fill the address in at define; deriving it here keeps aliases and
    the command line consistent for a domain that skipped them.

    :raises ValueError: for an unusable target name.
    """
    if isinstance(disk.address, DriveAddress):
        return disk.address
    index = disk_index(disk.target_dev)
    if disk.target_bus is DiskBus.IDE:
        return DriveAddress(index // 4, (index % 4) // 2, 0, index % 2)
    units = _MAX_UNITS.get(disk.target_bus or DiskBus.SCSI, 7)
    return DriveAddress(index // units, 0, 0, index % units)


def disk_alias(disk: Disk) -> str:
    """:raises ValueError: for an unusable target name."""
    bus = disk.target_bus or DiskBus.VIRTIO
    if bus is DiskBus.VIRTIO:
        return f"virtio-disk{disk_index(disk.target_dev)}"
    addr = drive_address(disk)
    if bus is DiskBus.SCSI:
        return f"scsi{addr.controller}-{addr.bus}-{addr.target}-{addr.unit}"
    return f"{bus.value}{addr.controller}-{addr.bus}-{addr.unit}"


def controller_alias(ctl: Controller, machine: str | None) -> str:
    if ctl.type is ControllerType.PCI:
        prefix = "pcie" if ctl.model == PciModel.PCIE_ROOT.value else "pci"
        return f"{prefix}.{ctl.index}"
    if ctl.index == 0 and (
        ctl.type is ControllerType.USB
        or (ctl.type is ControllerType.SATA and is_q35(machine))
        or (ctl.type is ControllerType.IDE and is_i440fx(machine))
    ):
        return "usb" if ctl.type is ControllerType.USB else "ide"
    return f"{ctl.type.value}{ctl.index}"


def _next_index(aliases: Iterable[str | None], prefix: str) -> int:
    """One above the highest ``<prefix>N`` in *aliases* (0 when there is none)."""
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
    found = [int(m.group(1)) for a in aliases if a and (m := pattern.match(a))]
    return max(found, default=-1) + 1


def _name_interfaces_and_hostdevs(
    interfaces: tuple[Interface, ...], hostdevs: tuple[Hostdev, ...]
) -> tuple[tuple[Interface, ...], tuple[Hostdev, ...]]:
    nics = list(interfaces)
    for i, nic in enumerate(nics):
        if nic.alias:
            continue
        if nic.type is InterfaceType.HOSTDEV:
            used = [n.alias for n in nics] + [h.alias for h in hostdevs]
            nics[i] = _named(nic, f"hostdev{_next_index(used, 'hostdev')}")
        else:
            nics[i] = _named(nic, f"net{_next_index((n.alias for n in nics), 'net')}")
    devs = list(hostdevs)
    for i, dev in enumerate(devs):
        used = [n.alias for n in nics] + [h.alias for h in devs]
        devs[i] = _named(dev, f"hostdev{_next_index(used, 'hostdev')}")
    return tuple(nics), tuple(devs)


def _name_consoles(consoles: tuple[CharDevice, ...], serials: tuple[CharDevice, ...]
                   ) -> tuple[CharDevice, ...]:
    first_serial = serials[0].alias if serials else None
    named = []
    for i, console in enumerate(consoles):
        # libvirt: a first console of target type serial is the first serial port itself
        mirrors = i == 0 and first_serial and console.target_type in (None, "serial")
        named.append(_named(console, first_serial if mirrors and first_serial
                            else f"console{i}"))
    return tuple(named)


def assign_aliases(domain: Domain) -> Domain:
    """*domain* with libvirt's automatic alias on every device that has none.

    Pure and idempotent. Devices that already carry an alias keep it.

    :raises ValueError: when a disk's target name cannot be turned into an index (the
        parser and defaults only let valid names through).
    """
    d = domain.devices
    machine = domain.os.machine
    nics, hostdevs = _name_interfaces_and_hostdevs(d.interfaces, d.hostdevs)
    serials = tuple(_named(s, f"serial{i}") for i, s in enumerate(d.serials))
    devices = replace(
        d,
        disks=tuple(_named(x, disk_alias(x)) for x in d.disks),
        controllers=tuple(_named(c, controller_alias(c, machine)) for c in d.controllers),
        interfaces=nics,
        hostdevs=hostdevs,
        serials=serials,
        consoles=_name_consoles(d.consoles, serials),
        channels=tuple(_named(x, f"channel{i}") for i, x in enumerate(d.channels)),
        inputs=tuple(_named(x, f"input{i}") for i, x in enumerate(d.inputs)),
        videos=tuple(_named(x, f"video{i}") for i, x in enumerate(d.videos)),
        rngs=tuple(_named(x, f"rng{i}") for i, x in enumerate(d.rngs)),
        memballoon=_named(d.memballoon, "balloon0") if d.memballoon else None,
    )
    return replace(domain, devices=devices)
