"""``<hostdev>``: host device assignment (PCI via VFIO; USB only to refuse it)."""

from __future__ import annotations

from dataclasses import dataclass

from pyvirt.domain.model.common import Rom
from pyvirt.domain.model.teaming import TransientTeaming
from pyvirt.types import Address, PciAddress


@dataclass(frozen=True)
class PciHostdev:
    """``<hostdev mode='subsystem' type='pci'>``; teaming may only be transient."""

    source: PciAddress
    managed: bool | None = None
    driver: str | None = None
    teaming: TransientTeaming | None = None
    boot: int | None = None
    rom: Rom | None = None
    alias: str | None = None
    address: Address | None = None


@dataclass(frozen=True)
class UsbHostdev:
    """``<hostdev mode='subsystem' type='usb'>``: parsed so it can be refused clearly."""

    vendor: str | None = None
    product: str | None = None
    managed: bool | None = None
    alias: str | None = None


Hostdev = PciHostdev | UsbHostdev
