"""``<controller>``: PCI topology, USB, SATA and SCSI controllers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyvirt.types import Address


class ControllerType(StrEnum):
    PCI = "pci"
    USB = "usb"
    SATA = "sata"
    SCSI = "scsi"
    IDE = "ide"


class PciModel(StrEnum):
    PCI_ROOT = "pci-root"
    PCIE_ROOT = "pcie-root"
    PCIE_ROOT_PORT = "pcie-root-port"
    PCIE_TO_PCI_BRIDGE = "pcie-to-pci-bridge"
    PCI_BRIDGE = "pci-bridge"


@dataclass(frozen=True)
class Controller:
    """One controller. ``model`` is the type-specific model string (``pcie-root-port``,
    ``qemu-xhci``, ``virtio-scsi`` ...); ``model_name`` is ``<model name=...>``, the QEMU
    device libvirt picked for a PCI controller; ``chassis``/``port`` its ``<target>``."""

    type: ControllerType
    index: int
    model: str | None = None
    model_name: str | None = None
    chassis: int | None = None
    port: int | None = None
    bus_nr: int | None = None
    queues: int | None = None
    alias: str | None = None
    address: Address | None = None
