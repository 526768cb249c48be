"""Device documents for hot-plug: ``attach-device``, ``detach-device``, ``update-device``.

A document holds one device element, as in libvirt, or (a pyvirt extension) several
inside ``<devices>``, so that both members of a teaming pair can go in one request. It
passes the same hardened loader as a domain (schema ``devices``) and the same element
parsers, so a device means exactly what it would mean inside ``<devices>`` of a domain.

Only ``<interface>`` and ``<hostdev>`` are hot-pluggable in pyvirt; every other device
element is parsed into :class:`OtherDevice`, which the planner refuses with libvirt's
``live attach of device 'disk' is not supported``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyvirt.domain.model import Hostdev, Interface
from pyvirt.domain.model.hostdev import HOSTDEV
from pyvirt.domain.xml.document import load_xml, read_xml_file
from pyvirt.domain.xml.util import Element
from pyvirt.errors import DeviceMissingError as DeviceMissingError
from pyvirt.xmlspec.engine import parse, parse_union


@dataclass(frozen=True)
class OtherDevice:
    """A device element pyvirt cannot hot-plug (``disk``, ``controller`` ...)."""

    kind: str


Device = Interface | Hostdev | OtherDevice


def device_kind(device: Device) -> str:
    """The element name: ``interface``, ``hostdev``, or the other device's own."""
    if isinstance(device, Interface):
        return "interface"
    if isinstance(device, OtherDevice):
        return device.kind
    return "hostdev"


def parse_device(el: Element) -> Device:
    """:raises PyvirtError: for values the interface or hostdev parser refuses."""
    if el.tag == "interface":
        return parse(Interface, el)
    if el.tag == "hostdev":
        dev: Hostdev = parse_union(HOSTDEV, el)
        return dev
    return OtherDevice(str(el.tag))


def _parse_root(root: Element) -> tuple[Device, ...]:
    elements = list(root) if root.tag == "devices" else [root]
    return tuple(parse_device(el) for el in elements if isinstance(el.tag, str))


def devices_from_xml(data: bytes | str, source: str = "") -> tuple[Device, ...]:
    """The devices of a device document, in document order.

    :raises XmlSyntaxError: for malformed XML.
    :raises SchemaError: for anything outside the schema (or a root other than a device
        element or ``<devices>``).
    :raises PyvirtError: for values the element parsers refuse (bad MAC, teaming ...).
    """
    return _parse_root(load_xml(data, schema="devices", source=source))


def devices_from_file(path: str | Path) -> tuple[Device, ...]:
    """Like :func:`devices_from_xml`, from a file (``-`` is standard input).

    :raises SystemCallError: when the file cannot be read.
    :raises PyvirtError: see :func:`devices_from_xml`.
    """
    return _parse_root(read_xml_file(path, schema="devices"))
