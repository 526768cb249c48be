"""Facts about QEMU machine types that placement, validation and the builder share."""

from __future__ import annotations

import re

from pyvirt.domain.model import Domain, Interface, InterfaceType, TransientTeaming

DEFAULT_EMULATOR = "/usr/bin/qemu-system-x86_64"

_Q35 = re.compile(r"^(q35|pc-q35-[0-9.]+)$")
_I440FX = re.compile(r"^(pc|pc-i440fx-[0-9.]+)$")


def is_q35(machine: str | None) -> bool:
    """True for the PCI Express machine (``q35`` and its versioned names)."""
    return bool(machine and _Q35.match(machine))


def is_i440fx(machine: str | None) -> bool:
    return bool(machine and _I440FX.match(machine))


def domain_is_q35(domain: Domain) -> bool:
    return is_q35(domain.os.machine)


# NIC models QEMU implements as PCI Express endpoints, so q35 can put them on a root
# port; everything else is conventional PCI and needs a pcie-to-pci-bridge there.
PCIE_NIC_MODELS = frozenset({"virtio", "virtio-non-transitional", "e1000e", "igb"})

# Emulated NIC models QEMU accepts as a failover primary: PCIe Ethernet devices.
EMULATED_PRIMARY_MODELS = frozenset({"e1000e", "igb"})

VIRTIO_MODELS = frozenset({"virtio", "virtio-transitional", "virtio-non-transitional"})

NIC_MODEL_DEVICES = {
    "virtio": "virtio-net-pci",
    "virtio-transitional": "virtio-net-pci-transitional",
    "virtio-non-transitional": "virtio-net-pci-non-transitional",
    "e1000e": "e1000e",
    "igb": "igb",
    "e1000": "e1000",
    "rtl8139": "rtl8139",
}

DEFAULT_NIC_MODEL = "rtl8139"  # what libvirt picks on x86 when <model> is absent

# pyvirt extension: an emulated PCIe NIC may be the transient member (testing without
# SR-IOV hardware); QEMU accepts e1000e and igb as failover primaries.
_EMULATED_TRANSIENT_TYPES = frozenset({InterfaceType.USER, InterfaceType.BRIDGE,
                                       InterfaceType.ETHERNET})


def is_emulated_transient(iface: Interface) -> bool:
    return (isinstance(iface.teaming, TransientTeaming)
            and iface.type in _EMULATED_TRANSIENT_TYPES
            and (iface.model or "") in EMULATED_PRIMARY_MODELS)


def is_pool_member(iface: Interface) -> bool:
    """A transient ``type='network'`` NIC: it becomes a VF of a hostdev pool at start, so
    it is placed like a VFIO device (own root port) and gets no emulated model."""
    return iface.type is InterfaceType.NETWORK and isinstance(iface.teaming, TransientTeaming)
