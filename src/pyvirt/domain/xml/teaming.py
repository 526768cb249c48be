"""``<teaming>`` inside ``<interface>`` and ``<hostdev>``.

libvirt reads ``type`` and ``persistent`` with empty values counting as absent; an
element with neither is silently ignored there (gap T16). pyvirt refuses it, because the
other half of the pair would otherwise point at a NIC that is no longer a standby.
"""

from __future__ import annotations

from pyvirt.domain.model.teaming import PersistentTeaming, Teaming, TransientTeaming
from pyvirt.domain.xml.util import Element, attr, make
from pyvirt.errors import ConfigUnsupportedError

_KNOWN = ("persistent", "transient")


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
    """:raises ConfigUnsupportedError: with libvirt's messages (B1-B3)."""
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


def parse_hostdev_teaming(parent: Element, *, is_pci: bool) -> TransientTeaming | None:
    """:raises ConfigUnsupportedError: with libvirt's messages (B1, B4-B6), in its order."""
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
