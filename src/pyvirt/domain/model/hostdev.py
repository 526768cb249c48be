"""``<hostdev>``: host device assignment (PCI via VFIO; USB only to refuse it)."""

from __future__ import annotations

from dataclasses import dataclass

from pyvirt.domain.model.common import (
    Rom,
    address,
    alias,
    boot,
    rom,
    source_pci_address,
)
from pyvirt.domain.model.teaming import TransientTeaming, check_hostdev_teaming, hostdev_teaming
from pyvirt.domain.xml.util import Element, attr
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.types import Address, PciAddress
from pyvirt.xmlspec.codecs import YES_NO
from pyvirt.xmlspec.fields import Union, const
from pyvirt.xmlspec.fields import attr as item


@dataclass(frozen=True, kw_only=True)
class PciHostdev:
    """``<hostdev mode='subsystem' type='pci'>``; teaming may only be transient."""

    mode: str = const("@mode", "subsystem")
    type: str = const("@type", "pci")
    managed: bool | None = item("@managed", YES_NO)
    driver: str | None = item("driver/@name", need=True)
    source: PciAddress = source_pci_address(
        missing="PCI host devices must use 'pci' or 'unassigned' address type",
        with_type=False, field="source", required=True)
    teaming: TransientTeaming | None = hostdev_teaming()
    boot: int | None = boot()
    alias: str | None = alias()
    rom: Rom | None = rom()
    address: Address | None = address()


@dataclass(frozen=True, kw_only=True)
class UsbHostdev:
    """``<hostdev mode='subsystem' type='usb'>``: parsed so it can be refused clearly."""

    mode: str = const("@mode", "subsystem")
    type: str = const("@type", "usb")
    managed: bool | None = item("@managed", YES_NO)
    vendor: str = item("source/vendor/@id", required=True)
    product: str = item("source/product/@id", required=True)
    alias: str | None = alias()


Hostdev = PciHostdev | UsbHostdev


def _select(el: Element) -> type:
    """libvirt's order: teaming rules first, then the mode, then the type."""
    mode, kind = attr(el, "mode") or "subsystem", attr(el, "type")
    check_hostdev_teaming(el, is_pci=mode == "subsystem" and kind == "pci")
    if mode != "subsystem":
        raise ConfigUnsupportedError(f"hostdev mode '{mode}' is not supported by pyvirt")
    if kind == "usb":
        return UsbHostdev
    if kind != "pci":
        raise ConfigUnsupportedError(f"hostdev type '{kind}' is not supported by pyvirt")
    return PciHostdev


HOSTDEV = Union("@type", {"pci": PciHostdev, "usb": UsbHostdev}, select=_select)
