"""Checks before anything on the host is changed (start, migration prepare, hot-plug).

Each device must exist, be an SR-IOV VF when its MAC and VLAN are to be programmed, be
free (no running guest holds it), sit in a viable IOMMU group, and either be movable to
vfio-pci (``managed='yes'``, vfio-pci loaded) or already be there (``managed='no'``).
The first failure is reported, naming the device and the member that wants it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyvirt.errors import ConfigUnsupportedError, HostError, OperationInvalidError
from pyvirt.host.plan import Assignment
from pyvirt.host.sysfs import PCI_CLASS_BRIDGE, STUB_DRIVERS, VFIO_DRIVER, PciDevice, Sysfs
from pyvirt.host.vfio import require_vfio
from pyvirt.types import PciAddress

VF_ONLY = "Interface type hostdev is currently supported on SR-IOV Virtual Functions only"


def in_use_message(device: PciAddress, domain: str) -> str:
    return f"PCI device {device} is in use by driver QEMU, domain {domain}"


def check_group(sysfs: Sysfs, dev: PciDevice, assigned: set[PciAddress]) -> None:
    """VFIO hands out whole IOMMU groups: every other member must be unbound, on a stub
    driver, a bridge, or assigned along with *dev*.

    :raises ConfigUnsupportedError: when the host has no IOMMU (no group).
    :raises OperationInvalidError: naming the member that makes the group not viable.
    """
    group = dev.iommu_group
    if group is None:
        raise ConfigUnsupportedError(
            f"PCI device {dev.address} is in no IOMMU group: enable the IOMMU (boot with "
            "intel_iommu=on or amd_iommu=on) to assign devices with VFIO")
    for other in sysfs.group_members(group):
        if other == dev.address or other in assigned:
            continue
        driver = sysfs.driver_of(other)
        if driver is None or driver in STUB_DRIVERS \
                or sysfs.pci_class(other) >> 8 == PCI_CLASS_BRIDGE:
            continue
        raise OperationInvalidError(
            f"IOMMU group {group} of PCI device {dev.address} is not viable: device "
            f"{other} in the same group is bound to driver '{driver}'; assign it too or "
            f"detach it with 'pyvirt nodedev-detach {other}'")


def check_assignment(sysfs: Sysfs, a: Assignment, assigned: set[PciAddress],
                     holder: Callable[[PciAddress], str | None]) -> PciDevice:
    """All checks for one device; returns what sysfs says about it.

    :raises PyvirtError: for the first check that fails (see module doc).
    """
    dev = sysfs.device(a.device)
    if a.program is not None:
        if not dev.is_vf:
            raise ConfigUnsupportedError(VF_ONLY)
        if dev.pf_netdev is None or dev.vf_index is None:
            raise HostError(f"The PF device for VF {a.device} has no network device name")
    owner = holder(a.device)
    if owner is not None:
        raise OperationInvalidError(in_use_message(a.device, owner))
    if a.managed:
        require_vfio(sysfs)
    elif dev.driver != VFIO_DRIVER:
        raise OperationInvalidError(
            f"PCI device {a.device} ({a.who}) has managed='no' but is bound to "
            f"{repr(dev.driver) if dev.driver else 'no driver'}, not {VFIO_DRIVER}: run "
            f"'pyvirt nodedev-detach {a.device}' first, or set managed='yes'")
    check_group(sysfs, dev, assigned)
    return dev


def preflight(sysfs: Sysfs, assignments: Sequence[Assignment],
              holder: Callable[[PciAddress], str | None]) -> dict[PciAddress, PciDevice]:
    """Check every assignment before any is made. *holder* names the running domain
    that holds a device (None: free).

    :raises ConfigUnsupportedError: a device assigned twice, or see
        :func:`check_assignment`.
    """
    assigned = {a.device for a in assignments}
    devices: dict[PciAddress, PciDevice] = {}
    for a in assignments:
        if a.device in devices:
            raise ConfigUnsupportedError(f"PCI device {a.device} is assigned twice in the "
                                         f"domain ({a.who})")
        devices[a.device] = check_assignment(sysfs, a, assigned, holder)
    return devices
