"""``<domain>``: the whole guest definition."""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from lxml import etree

from pyvirt.domain.model.chardev import Channel, CharDevice
from pyvirt.domain.model.clock import Timer
from pyvirt.domain.model.controller import Controller
from pyvirt.domain.model.disk import Disk
from pyvirt.domain.model.hostdev import HOSTDEV, Hostdev
from pyvirt.domain.model.interface import Interface
from pyvirt.domain.model.misc import Audio, Graphics, Input, Memballoon, Rng, Video
from pyvirt.domain.xml.util import Element, attr, make
from pyvirt.domain.xml.writer import drop_layout
from pyvirt.errors import ParseError
from pyvirt.types import size_to_kib
from pyvirt.xmlspec.codecs import ON_OFF, RAW_TEXT, TEXT, YES_NO, checked, enum, uint
from pyvirt.xmlspec.fields import Pattern, Shape, child, children, custom, flag, many
from pyvirt.xmlspec.fields import attr as item


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


_NAME_FORBIDDEN = re.compile(r"[/\x00-\x1f\x7f-\x9f]")


def checked_name(name: str | None, _el: Element | None = None) -> str:
    """:raises ParseError: for a missing name or one libvirt forbids."""
    if not name or not name.strip():
        raise ParseError("missing name information")
    if _NAME_FORBIDDEN.search(name):
        raise ParseError(f"name {name!r} cannot contain '/' or control characters")
    return name


def checked_uuid(raw: str | None, _el: Element | None = None) -> str | None:
    """The canonical form of ``raw``. :raises ParseError: when it is no UUID."""
    if raw is None:
        return None
    try:
        return str(uuidlib.UUID(raw))
    except ValueError:
        raise ParseError(f"malformed uuid element '{raw}'") from None


def _hvm(value: str, _el: Element) -> str:
    if value != "hvm":
        raise ParseError(f"unknown OS type '{value}'")
    return value


@dataclass(frozen=True)
class Vcpu:
    count: int = item(".", uint(1, 4096), default=1)
    placement: str | None = item("@placement")
    current: int | None = item("@current", uint(1, 4096))


@dataclass(frozen=True)
class Os:
    type: str = item("type", checked(TEXT, _hvm, ("hvm",)), default="hvm")
    arch: str | None = item("type/@arch")
    machine: str | None = item("type/@machine")
    kernel: str | None = item("kernel")
    initrd: str | None = item("initrd")
    cmdline: str | None = item("cmdline", RAW_TEXT)
    boot_devs: tuple[str, ...] = many("boot/@dev")
    bootmenu: bool | None = item("bootmenu/@enable", YES_NO, need=True)
    bootmenu_timeout: int | None = item("bootmenu/@timeout", uint(0, 65535))


@dataclass(frozen=True)
class Features:
    acpi: bool = flag("acpi")
    apic: bool = flag("apic")
    pae: bool = flag("pae")
    vmport: bool | None = item("vmport/@state", ON_OFF, need=True)


@dataclass(frozen=True)
class Pm:
    """``<pm>``: whether the guest may suspend to RAM (S3) and to disk (S4)."""

    suspend_to_mem: bool | None = item("suspend-to-mem/@enabled", YES_NO, need=True)
    suspend_to_disk: bool | None = item("suspend-to-disk/@enabled", YES_NO, need=True)


@dataclass(frozen=True)
class CpuModel:
    name: str = item(".", required=True)
    fallback: str | None = item("@fallback")


@dataclass(frozen=True)
class Cpu:
    mode: str | None = item("@mode")
    match: str | None = item("@match")
    check: str | None = item("@check")
    migratable: bool | None = item("@migratable", ON_OFF)
    model: CpuModel | None = child("model", CpuModel)


@dataclass(frozen=True)
class Devices:
    """The ``<devices>`` section, each kind in document order."""

    emulator: str | None = item("emulator")
    disks: tuple[Disk, ...] = children("disk", Disk)
    controllers: tuple[Controller, ...] = children("controller", Controller)
    interfaces: tuple[Interface, ...] = children("interface", Interface)
    serials: tuple[CharDevice, ...] = children("serial", CharDevice)
    consoles: tuple[CharDevice, ...] = children("console", CharDevice)
    channels: tuple[Channel, ...] = children("channel", Channel)
    inputs: tuple[Input, ...] = children("input", Input)
    graphics: tuple[Graphics, ...] = children("graphics", Graphics)
    audios: tuple[Audio, ...] = children("audio", Audio)
    videos: tuple[Video, ...] = children("video", Video)
    hostdevs: tuple[Hostdev, ...] = children("hostdev", HOSTDEV)
    memballoon: Memballoon | None = child("memballoon", Memballoon)
    rngs: tuple[Rng, ...] = children("rng", Rng)


def _size(tag: str, *, required: bool = False) -> Any:
    def read(el: Element) -> int | None:
        node = el.find(tag)
        if node is None:
            if required:
                raise ParseError(f"missing {tag} element")
            return None
        return size_to_kib(node.text or "", attr(node, "unit"), what=tag)

    def write(el: Element, dom: Any) -> None:
        value = getattr(dom, "memory" if tag == "memory" else "current_memory")
        if value is not None:
            el.append(make(tag, [("unit", "KiB")], text=str(value)))

    pattern = Pattern(tag, '<optional><attribute name="unit"/></optional><text/>',
                      required=required)
    return custom(read, write, Shape(children=(pattern,)), default=0 if required else None)


def _read_metadata(el: Element) -> str | None:
    node = el.find("metadata")
    if node is None:
        return None
    if (node.text or "").strip() or any((c.tail or "").strip() for c in node):
        raise ParseError("text is not allowed directly inside <metadata>: put it in an "
                         "element of your own namespace")
    copy = deepcopy(node)
    drop_layout(copy)  # stored without the layout it came with: formatting adds its own
    return etree.tostring(copy, encoding="unicode", with_tail=False)


def _write_metadata(el: Element, dom: Any) -> None:
    if dom.metadata is not None:
        el.append(etree.fromstring(dom.metadata))


@dataclass(frozen=True, kw_only=True)
class Domain:
    """A domain definition. ``memory``/``current_memory`` are in KiB; ``metadata`` is the
    verbatim serialized ``<metadata>`` element."""

    XML_IGNORED: ClassVar[dict[str, str]] = {
        "@id": "the id of a running domain: libvirt ignores it in a definition too"}

    type: DomainType = item("@type", enum(DomainType, "domain type"), required=True)
    name: str = item("name", checked(RAW_TEXT, checked_name, ("guest", "g 1")), required=True)
    uuid: str | None = item("uuid", checked(TEXT, checked_uuid, (
        "c7a5fdbd-edaf-9455-926a-d65c16db1809",)))
    title: str | None = item("title", RAW_TEXT)
    description: str | None = item("description", RAW_TEXT)
    metadata: str | None = custom(_read_metadata, _write_metadata, Shape(children=(
        Pattern("metadata", '<ref name="anyContent"/>'),)))
    memory: int = _size("memory", required=True)
    current_memory: int | None = _size("currentMemory")
    vcpu: Vcpu = child("vcpu", Vcpu, factory=Vcpu)
    os: Os = child("os", Os, factory=Os)
    features: Features | None = child("features", Features)
    cpu: Cpu | None = child("cpu", Cpu)
    clock_offset: str | None = item("clock/@offset", need=True)
    timers: tuple[Timer, ...] = children("clock/timer", Timer)
    on_poweroff: LifecycleAction | None = item(
        "on_poweroff", enum(LifecycleAction, "on_poweroff action"))
    on_reboot: LifecycleAction | None = item(
        "on_reboot", enum(LifecycleAction, "on_reboot action"))
    on_crash: LifecycleAction | None = item(
        "on_crash", enum(LifecycleAction, "on_crash action"))
    pm: Pm | None = child("pm", Pm)
    devices: Devices = child("devices", Devices, factory=Devices)

    def aliased_devices(self) -> Iterator[tuple[str, object]]:
        """Every device that has an alias, as (alias, device), in document order."""
        d = self.devices
        groups: tuple[tuple[object, ...], ...] = (
            d.disks, d.controllers, d.interfaces, d.serials, d.consoles, d.channels, d.inputs,
            d.videos, d.hostdevs, d.rngs,
            (d.memballoon,) if d.memballoon else (),
        )
        for group in groups:
            for dev in group:
                dev_alias = getattr(dev, "alias", None)
                if dev_alias:
                    yield dev_alias, dev


