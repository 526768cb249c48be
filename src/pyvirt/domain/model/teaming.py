"""``<teaming>``: the link between the two members of a failover pair.

libvirt reads ``type`` and ``persistent`` with empty values counting as absent; an
element with neither is silently ignored there. pyvirt refuses it, because the other half
of the pair would otherwise point at a NIC that is no longer a standby. The rules run in
libvirt's order, with its messages, so the items are custom ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pyvirt.domain.xml.util import Element, attr, make
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.xmlspec.fields import Pattern, Shape, custom


class TeamingType(StrEnum):
    PERSISTENT = "persistent"
    TRANSIENT = "transient"


@dataclass(frozen=True)
class PersistentTeaming:
    """The always-present member (a virtio NIC; QEMU ``failover=on``)."""

    type: TeamingType = TeamingType.PERSISTENT


@dataclass(frozen=True)
class TransientTeaming:
    """The member that may be unplugged; ``persistent`` is its partner's alias."""

    persistent: str
    type: TeamingType = TeamingType.TRANSIENT


Teaming = PersistentTeaming | TransientTeaming

_KNOWN = ("persistent", "transient")
_SHAPE = Shape(children=(Pattern(
    "teaming", '<optional><attribute name="type"/></optional>'
               '<optional><attribute name="persistent"/></optional>'),))


def _raw(parent: Element) -> tuple[str | None, str | None] | None:
    el = parent.find("teaming")
    if el is None:
        return None
    kind, persistent = attr(el, "type"), attr(el, "persistent")
    if kind is None and persistent is None:
        raise ConfigUnsupportedError(
            "<teaming/> needs a type: use <teaming type='persistent'/> on the virtio NIC "
            "or <teaming type='transient' persistent='ua-NAME'/> on its partner")
    if kind not in _KNOWN:
        raise ConfigUnsupportedError(f"unknown teaming type '{kind or '(null)'}'")
    return kind, persistent


def parse_interface_teaming(parent: Element) -> Teaming | None:
    """:raises ConfigUnsupportedError: with libvirt's messages."""
    raw = _raw(parent)
    if raw is None:
        return None
    kind, persistent = raw
    if kind == "transient":
        if persistent is None:
            raise ConfigUnsupportedError(
                "teaming persistent attribute must be set if teaming type is 'transient'")
        return TransientTeaming(persistent)
    if persistent is not None:
        raise ConfigUnsupportedError(
            f"teaming persistent attribute not allowed if teaming type is '{kind}'")
    return PersistentTeaming()


def check_hostdev_teaming(parent: Element, *, is_pci: bool) -> TransientTeaming | None:
    """:raises ConfigUnsupportedError: with libvirt's messages, in its order."""
    raw = _raw(parent)
    if raw is None:
        return None
    kind, persistent = raw
    if kind != "transient":
        raise ConfigUnsupportedError("teaming hostdev devices must have type='transient'")
    if persistent is None:
        raise ConfigUnsupportedError(
            "missing required persistent attribute in hostdev teaming element")
    if not is_pci:
        raise ConfigUnsupportedError("teaming is only supported for pci hostdev devices")
    return TransientTeaming(persistent)


def format_teaming(teaming: Teaming) -> Element:
    if isinstance(teaming, TransientTeaming):
        return make("teaming", [("type", "transient"), ("persistent", teaming.persistent)])
    return make("teaming", [("type", "persistent")])


def _write(el: Element, obj: Any) -> None:
    if obj.teaming is not None:
        el.append(format_teaming(obj.teaming))


def interface_teaming() -> Any:
    """An interface's ``<teaming>``: either kind."""
    return custom(parse_interface_teaming, _write, _SHAPE)


def hostdev_teaming() -> Any:
    """A PCI hostdev's ``<teaming>``: transient only."""
    return custom(lambda el: check_hostdev_teaming(el, is_pci=True), _write, _SHAPE)
