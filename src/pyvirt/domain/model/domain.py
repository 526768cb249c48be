"""``<domain>``: the whole guest definition."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from pyvirt.domain.model.chardev import CharDevice
from pyvirt.domain.model.controller import Controller
from pyvirt.domain.model.disk import Disk
from pyvirt.domain.model.hostdev import Hostdev
from pyvirt.domain.model.interface import Interface
from pyvirt.domain.model.misc import Audio, Graphics, Input, Memballoon, Rng, Video


class DomainType(StrEnum):
    KVM = "kvm"
    QEMU = "qemu"


class LifecycleAction(StrEnum):
    DESTROY = "destroy"
    RESTART = "restart"
    PRESERVE = "preserve"
    RENAME_RESTART = "rename-restart"
    COREDUMP_DESTROY = "coredump-destroy"
    COREDUMP_RESTART = "coredump-restart"


@dataclass(frozen=True)
class Vcpu:
    count: int = 1
    placement: str | None = None
    current: int | None = None


@dataclass(frozen=True)
class Os:
    type: str = "hvm"
    arch: str | None = None
    machine: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    boot_devs: tuple[str, ...] = ()
    bootmenu: bool | None = None
    bootmenu_timeout: int | None = None


@dataclass(frozen=True)
class Features:
    acpi: bool = False
    apic: bool = False
    pae: bool = False


@dataclass(frozen=True)
class CpuModel:
    name: str
    fallback: str | None = None


@dataclass(frozen=True)
class Cpu:
    mode: str | None = None
    match: str | None = None
    check: str | None = None
    model: CpuModel | None = None


@dataclass(frozen=True)
class Devices:
    """The ``<devices>`` section, each kind in document order."""

    emulator: str | None = None
    disks: tuple[Disk, ...] = ()
    controllers: tuple[Controller, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    serials: tuple[CharDevice, ...] = ()
    consoles: tuple[CharDevice, ...] = ()
    inputs: tuple[Input, ...] = ()
    graphics: tuple[Graphics, ...] = ()
    audios: tuple[Audio, ...] = ()
    videos: tuple[Video, ...] = ()
    hostdevs: tuple[Hostdev, ...] = ()
    memballoon: Memballoon | None = None
    rngs: tuple[Rng, ...] = ()


@dataclass(frozen=True)
class Domain:
    """A domain definition. ``memory``/``current_memory`` are in KiB; ``metadata`` is the
    verbatim serialized ``<metadata>`` element."""

    type: DomainType
    name: str
    memory: int
    uuid: str | None = None
    title: str | None = None
    description: str | None = None
    metadata: str | None = None
    current_memory: int | None = None
    vcpu: Vcpu = field(default_factory=Vcpu)
    os: Os = field(default_factory=Os)
    features: Features | None = None
    cpu: Cpu | None = None
    clock_offset: str | None = None
    on_poweroff: LifecycleAction | None = None
    on_reboot: LifecycleAction | None = None
    on_crash: LifecycleAction | None = None
    devices: Devices = field(default_factory=Devices)

    def aliased_devices(self) -> Iterator[tuple[str, object]]:
        """Every device that has an alias, as (alias, device), in document order."""
        d = self.devices
        groups: tuple[tuple[object, ...], ...] = (
            d.disks, d.controllers, d.interfaces, d.serials, d.consoles, d.inputs,
            d.videos, d.hostdevs, d.rngs,
            (d.memballoon,) if d.memballoon else (),
        )
        for group in groups:
            for dev in group:
                alias = getattr(dev, "alias", None)
                if alias:
                    yield alias, dev
