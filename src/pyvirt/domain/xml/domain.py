"""``<domain>`` parse/format: the top level and ``<devices>``."""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Callable
from typing import TypeVar

from lxml import etree

from pyvirt.domain.model.domain import (
    Cpu,
    CpuModel,
    Devices,
    Domain,
    DomainType,
    Features,
    LifecycleAction,
    Os,
    Vcpu,
)
from pyvirt.domain.xml.chardev import format_chardev, parse_chardev
from pyvirt.domain.xml.controller import format_controller, parse_controller
from pyvirt.domain.xml.disk import format_disk, parse_disk
from pyvirt.domain.xml.hostdev import format_hostdev, parse_hostdev
from pyvirt.domain.xml.interface import format_interface, parse_interface
from pyvirt.domain.xml.misc import (
    format_audio,
    format_graphics,
    format_input,
    format_memballoon,
    format_rng,
    format_video,
    parse_audio,
    parse_graphics,
    parse_input,
    parse_memballoon,
    parse_rng,
    parse_video,
)
from pyvirt.domain.xml.util import (
    Element,
    attr,
    child_text,
    enum_value,
    int_attr,
    make,
    parse_int,
    sub,
    text_of,
    yes_no,
    yes_no_attr,
)
from pyvirt.errors import ParseError
from pyvirt.types import size_to_kib

T = TypeVar("T")
_NAME_FORBIDDEN = re.compile(r"[/\x00-\x1f\x7f-\x9f]")


def _parse_name(el: Element) -> str:
    return _checked_name(el.findtext("name"))


def _checked_name(name: str | None) -> str:
    if not name or not name.strip():
        raise ParseError("missing name information")
    if _NAME_FORBIDDEN.search(name):
        raise ParseError(f"name {name!r} cannot contain '/' or control characters")
    return name


def _parse_uuid(el: Element) -> str | None:
    return _checked_uuid(child_text(el, "uuid"))


def _checked_uuid(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return str(uuidlib.UUID(raw))
    except ValueError:
        raise ParseError(f"malformed uuid element '{raw}'") from None


def parse_identity(el: Element) -> tuple[str, str | None]:
    """Name and UUID of a ``<domain>`` element that still has its comments (see
    ``parse_xml``): what :func:`parse_domain` reads once ``load_xml`` has dropped them,
    checked the same way.

    :raises ParseError: for a missing or forbidden name, or a malformed UUID.
    """
    def joined(tag: str) -> str | None:  # the text around comments and PIs, joined
        child = el.find(tag)
        return None if child is None else \
            "".join(t for t in child.itertext() if isinstance(t, str))

    return _checked_name(joined("name")), _checked_uuid((joined("uuid") or "").strip() or None)


def _parse_size(el: Element, tag: str) -> int | None:
    node = el.find(tag)
    if node is None:
        return None
    return size_to_kib(node.text or "", attr(node, "unit"), what=tag)


def _parse_os(el: Element | None) -> Os:
    if el is None:
        return Os()
    type_el = el.find("type")
    os_type = text_of(type_el) or "hvm"
    if os_type != "hvm":
        raise ParseError(f"unknown OS type '{os_type}'")
    bootmenu = el.find("bootmenu")
    return Os(
        type=os_type, arch=attr(type_el, "arch"), machine=attr(type_el, "machine"),
        kernel=child_text(el, "kernel"), initrd=child_text(el, "initrd"),
        cmdline=el.findtext("cmdline"),
        boot_devs=tuple(attr(b, "dev") or "" for b in el.findall("boot")),
        bootmenu=yes_no_attr(bootmenu, "enable"),
        bootmenu_timeout=int_attr(bootmenu, "timeout", maximum=65535),
    )


def _parse_cpu(el: Element | None) -> Cpu | None:
    if el is None:
        return None
    model = el.find("model")
    name = text_of(model)
    return Cpu(mode=attr(el, "mode"), match=attr(el, "match"), check=attr(el, "check"),
               model=CpuModel(name, attr(model, "fallback"))
               if name and model is not None else None)


def _parse_action(el: Element, tag: str) -> LifecycleAction | None:
    raw = child_text(el, tag)
    node = el.find(tag)
    if raw is None or node is None:
        return None
    return enum_value(LifecycleAction, raw, f"{tag} action", node)


def _all(el: Element | None, tag: str, parse: Callable[[Element], T]) -> tuple[T, ...]:
    return () if el is None else tuple(parse(c) for c in el.findall(tag))


def _parse_devices(el: Element | None) -> Devices:
    balloons = _all(el, "memballoon", parse_memballoon)
    return Devices(
        emulator=child_text(el, "emulator") if el is not None else None,
        disks=_all(el, "disk", parse_disk),
        controllers=_all(el, "controller", parse_controller),
        interfaces=_all(el, "interface", parse_interface),
        serials=_all(el, "serial", parse_chardev),
        consoles=_all(el, "console", parse_chardev),
        inputs=_all(el, "input", parse_input),
        graphics=_all(el, "graphics", parse_graphics),
        audios=_all(el, "audio", parse_audio),
        videos=_all(el, "video", parse_video),
        hostdevs=_all(el, "hostdev", parse_hostdev),
        memballoon=balloons[0] if balloons else None,
        rngs=_all(el, "rng", parse_rng),
    )


def parse_domain(el: Element) -> Domain:
    """Build a :class:`Domain` from a schema-checked ``<domain>`` element.

    :raises PyvirtError: (ParseError, ConfigUnsupportedError) for bad values.
    """
    memory = _parse_size(el, "memory")
    if memory is None:
        raise ParseError("missing memory element")
    vcpu = el.find("vcpu")
    features = el.find("features")
    metadata = el.find("metadata")
    if metadata is not None and ((metadata.text or "").strip()
                                 or any((c.tail or "").strip() for c in metadata)):
        raise ParseError("text is not allowed directly inside <metadata>: put it in an "
                         "element of your own namespace")
    return Domain(
        type=enum_value(DomainType, attr(el, "type") or "", "domain type", el),
        name=_parse_name(el),
        uuid=_parse_uuid(el),
        title=el.findtext("title"),
        description=el.findtext("description"),
        metadata=etree.tostring(metadata, encoding="unicode", with_tail=False)
        if metadata is not None else None,
        memory=memory,
        current_memory=_parse_size(el, "currentMemory"),
        vcpu=Vcpu(
            count=parse_int(vcpu.text or "", "vcpu", vcpu, minimum=1, maximum=4096),
            placement=attr(vcpu, "placement"),
            current=int_attr(vcpu, "current", minimum=1, maximum=4096),
        ) if vcpu is not None else Vcpu(),
        os=_parse_os(el.find("os")),
        features=Features(acpi=features.find("acpi") is not None,
                          apic=features.find("apic") is not None,
                          pae=features.find("pae") is not None)
        if features is not None else None,
        cpu=_parse_cpu(el.find("cpu")),
        clock_offset=attr(el.find("clock"), "offset"),
        on_poweroff=_parse_action(el, "on_poweroff"),
        on_reboot=_parse_action(el, "on_reboot"),
        on_crash=_parse_action(el, "on_crash"),
        devices=_parse_devices(el.find("devices")),
    )


def _format_os(parent: Element, os: Os) -> None:
    el = sub(parent, "os")
    sub(el, "type", [("arch", os.arch), ("machine", os.machine)], text=os.type)
    for tag, value in (("kernel", os.kernel), ("initrd", os.initrd), ("cmdline", os.cmdline)):
        if value is not None:
            sub(el, tag, text=value)
    for dev in os.boot_devs:
        sub(el, "boot", [("dev", dev)])
    if os.bootmenu is not None:
        sub(el, "bootmenu", [("enable", yes_no(os.bootmenu)), ("timeout", os.bootmenu_timeout)])


def _format_devices(parent: Element, d: Devices) -> None:
    el = sub(parent, "devices")
    if d.emulator is not None:
        sub(el, "emulator", text=d.emulator)
    children: list[Element] = [
        *map(format_disk, d.disks),
        *map(format_controller, d.controllers),
        *map(format_interface, d.interfaces),
        *(format_chardev("serial", s) for s in d.serials),
        *(format_chardev("console", c) for c in d.consoles),
        *map(format_input, d.inputs),
        *map(format_graphics, d.graphics),
        *map(format_audio, d.audios),
        *map(format_video, d.videos),
        *map(format_hostdev, d.hostdevs),
        *([format_memballoon(d.memballoon)] if d.memballoon else []),
        *map(format_rng, d.rngs),
    ]
    el.extend(children)


def format_domain(dom: Domain) -> Element:
    """The ``<domain>`` element, children in libvirt's formatting order."""
    el = make("domain", [("type", dom.type.value)])
    sub(el, "name", text=dom.name)
    for tag, value in (("uuid", dom.uuid), ("title", dom.title),
                       ("description", dom.description)):
        if value is not None:
            sub(el, tag, text=value)
    if dom.metadata is not None:
        el.append(etree.fromstring(dom.metadata))
    sub(el, "memory", [("unit", "KiB")], text=str(dom.memory))
    if dom.current_memory is not None:
        sub(el, "currentMemory", [("unit", "KiB")], text=str(dom.current_memory))
    sub(el, "vcpu", [("placement", dom.vcpu.placement), ("current", dom.vcpu.current)],
        text=str(dom.vcpu.count))
    _format_os(el, dom.os)
    if dom.features is not None:
        feats = sub(el, "features")
        for tag in ("acpi", "apic", "pae"):
            if getattr(dom.features, tag):
                sub(feats, tag)
    if dom.cpu is not None:
        cpu = sub(el, "cpu", [("mode", dom.cpu.mode), ("match", dom.cpu.match),
                              ("check", dom.cpu.check)])
        if dom.cpu.model is not None:
            sub(cpu, "model", [("fallback", dom.cpu.model.fallback)], text=dom.cpu.model.name)
    if dom.clock_offset is not None:
        sub(el, "clock", [("offset", dom.clock_offset)])
    for tag, action in (("on_poweroff", dom.on_poweroff), ("on_reboot", dom.on_reboot),
                        ("on_crash", dom.on_crash)):
        if action is not None:
            sub(el, tag, text=action.value)
    _format_devices(el, dom.devices)
    return el
