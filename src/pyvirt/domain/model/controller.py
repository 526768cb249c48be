"""``<controller>``: PCI topology, USB, SATA and SCSI controllers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyvirt.domain.model.common import address, alias
from pyvirt.types import Address
from pyvirt.xmlspec.codecs import HEX, enum, uint
from pyvirt.xmlspec.fields import attr


class ControllerType(StrEnum):
    PCI = "pci"
    USB = "usb"
    SATA = "sata"
    SCSI = "scsi"
    IDE = "ide"
    VIRTIO_SERIAL = "virtio-serial"


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
    device libvirt picked for a PCI controller; ``chassis``/``port`` its ``<target>``;
    ``ports`` a USB controller's port count or a virtio-serial controller's maximum."""

    type: ControllerType = attr("@type", enum(ControllerType, "controller type"),
                                required=True)
    index: int = attr("@index", uint(0, 255), default=0)
    model: str | None = attr("@model")
    ports: int | None = attr("@ports", uint(1, 255))
    vectors: int | None = attr("@vectors", uint(1, 1024))
    model_name: str | None = attr("model/@name", need=True)
    chassis: int | None = attr("target/@chassis", uint(0, 255))
    port: int | None = attr("target/@port", HEX)
    bus_nr: int | None = attr("target/@busNr", uint(0, 255))
    queues: int | None = attr("driver/@queues", uint(1))
    alias: str | None = alias()
    address: Address | None = address()
