"""QEMU-specific validation: what QEMU would refuse at run time, refused up front.

libvirt's two teaming checks (persistent must be virtio, transient must be a hostdev
NIC) keep libvirt's messages. pyvirt adds the rules QEMU only enforces late, as stderr
warnings when the guest negotiates (reference G9, qemu-failover §1.4): a PCI Express
machine, and a transient member alone on a hot-pluggable root port.
"""

from __future__ import annotations

from pyvirt.domain.model import (
    Domain,
    Interface,
    InterfaceType,
    PciHostdev,
    PciModel,
    PersistentTeaming,
    TransientTeaming,
    UsbHostdev,
)
from pyvirt.domain.teams import TransientMember, describe, transient_members
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.machine import (
    NIC_MODEL_DEVICES,
    VIRTIO_MODELS,
    is_emulated_transient,
    is_q35,
)
from pyvirt.types import PciAddress


def _check_interface_teaming(iface: Interface) -> None:
    """libvirt B7/B8 (its messages), then G8."""
    if isinstance(iface.teaming, PersistentTeaming):
        if iface.model not in VIRTIO_MODELS:
            raise ConfigUnsupportedError(
                "virtio-net teaming persistent interface must be <model type='virtio'/>, "
                f"not '{iface.model or '(null)'}'")
        if iface.type is InterfaceType.HOSTDEV:
            raise ConfigUnsupportedError(
                f"teaming persistent {describe(iface)} must not be type='hostdev': the "
                "persistent member is the emulated virtio NIC that stays plugged; put "
                "<teaming type='transient'/> on the hostdev partner instead")
    elif isinstance(iface.teaming, TransientTeaming):
        if iface.type in (InterfaceType.HOSTDEV, InterfaceType.NETWORK):
            return
        if not is_emulated_transient(iface):
            raise ConfigUnsupportedError(
                "virtio-net teaming transient interface must be type='hostdev', "
                f"not '{iface.type.value}'")
        if iface.rom is None or iface.rom.enabled is not False:
            raise ConfigUnsupportedError(
                f"teaming transient {describe(iface)} needs <rom enabled='no'/>: QEMU keeps "
                "the primary hidden on a migration destination, so the RAM block of its "
                "option ROM would make the incoming migration fail")


def _has_teaming(domain: Domain) -> bool:
    return any(i.teaming is not None for i in domain.devices.interfaces) or any(
        isinstance(h, PciHostdev) and h.teaming is not None for h in domain.devices.hostdevs)


def _root_port_buses(domain: Domain) -> set[int]:
    return {c.index for c in domain.devices.controllers
            if c.model == PciModel.PCIE_ROOT_PORT.value}


def _check_transient_slot(domain: Domain, member: TransientMember) -> None:
    """The primary must be hot-pluggable: alone at function 0 of a pcie-root-port."""
    addr = member.address
    if not isinstance(addr, PciAddress):
        return  # not placed yet; placement puts it on its own root port
    who = describe(member)
    if addr.bus not in _root_port_buses(domain):
        raise ConfigUnsupportedError(
            f"teaming transient {who} must sit alone on a hot-pluggable pcie-root-port, "
            f"but its address puts it on bus {addr.bus:#04x}, which is not one: QEMU "
            "unplugs it during migration; remove its <address> to let pyvirt place it")
    on_bus = [a for a in _pci_addresses(domain) if a.bus == addr.bus]
    if addr.function != 0 or addr.multifunction or len(on_bus) > 1:
        raise ConfigUnsupportedError(
            f"teaming transient {who} must be in its own PCI slot (function 0, not "
            "multifunction, nothing else on its root port); remove its <address> to let "
            "pyvirt place it")


def _pci_addresses(domain: Domain) -> list[PciAddress]:
    d = domain.devices
    devices: list[object] = [*d.controllers, *d.interfaces, *d.disks, *d.hostdevs, *d.rngs,
                             *d.inputs, d.memballoon]
    return [a for a in (getattr(dev, "address", None) for dev in devices)
            if isinstance(a, PciAddress)]


def _check_caps(domain: Domain, caps: QemuCaps) -> None:
    if _has_teaming(domain) and not caps.supports_failover:
        raise ConfigUnsupportedError(
            "virtio-net failover (teaming) is not supported with this QEMU binary")
    for iface in domain.devices.interfaces:
        if iface.type is InterfaceType.HOSTDEV or iface.model is None:
            continue
        device = NIC_MODEL_DEVICES.get(iface.model, iface.model)
        if not caps.has_device(device):
            raise ConfigUnsupportedError(
                f"interface model '{iface.model}' is not supported by this QEMU binary "
                f"({caps.binary})")
        if is_emulated_transient(iface) and not caps.has_device_prop(device,
                                                                     "failover_pair_id"):
            raise ConfigUnsupportedError(
                "virtio-net failover (teaming) is not supported with this QEMU binary")


def validate_for_qemu(domain: Domain, caps: QemuCaps | None = None) -> None:
    """Run the QEMU driver's checks on a defaulted (and ideally placed) domain.

    *caps* None skips the checks that need a probed binary.

    :raises ConfigUnsupportedError: for the first rule broken.
    """
    for iface in domain.devices.interfaces:
        _check_interface_teaming(iface)
    for dev in domain.devices.hostdevs:
        if isinstance(dev, UsbHostdev):
            raise ConfigUnsupportedError("USB host device assignment is not supported by pyvirt")
    if _has_teaming(domain) and not is_q35(domain.os.machine):
        raise ConfigUnsupportedError(
            f"virtio-net failover (teaming) needs a PCI Express machine, but machine is "
            f"'{domain.os.machine}': use <type machine='q35'>hvm</type> (QEMU refuses a "
            "failover primary that is not on a PCI Express bus)")
    for member, _teaming in transient_members(domain):
        _check_transient_slot(domain, member)
    if caps is not None:
        _check_caps(domain, caps)
