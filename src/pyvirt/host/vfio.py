"""Managed device assignment: move a PCI function to vfio-pci and back.

The kernel's ``driver_override`` mechanism, as libvirt uses it
(``virPCIDeviceBindToStub`` / ``virPCIDeviceUnbindFromStub``):

detach
    write ``vfio-pci`` to ``devices/<addr>/driver_override``; write ``<addr>`` to the
    current driver's ``unbind``; write ``<addr>`` to ``bus/pci/drivers_probe``; the
    kernel binds the override driver, which must now be vfio-pci.
reattach
    write ``<addr>`` to ``drivers/vfio-pci/unbind``; clear ``driver_override``; write
    ``<addr>`` to ``drivers_probe`` so the kernel binds the device's own driver again
    (skipped for a device that had no driver before).
"""

from __future__ import annotations

from pyvirt.errors import ConfigUnsupportedError, HostError
from pyvirt.host.sysfs import VFIO_DRIVER, Sysfs
from pyvirt.types import PciAddress


def vfio_available(sysfs: Sysfs) -> bool:
    return sysfs.driver_loaded(VFIO_DRIVER)


def require_vfio(sysfs: Sysfs) -> None:
    """:raises ConfigUnsupportedError: in libvirt's words, with the way out."""
    if not vfio_available(sysfs):
        raise ConfigUnsupportedError(
            "host doesn't support VFIO PCI passthrough: the vfio-pci driver is not loaded "
            "(run 'modprobe vfio-pci'; the IOMMU must be enabled, e.g. intel_iommu=on)")


def detach(sysfs: Sysfs, addr: PciAddress) -> str | None:
    """Bind *addr* to vfio-pci; returns the driver it had (None: unbound).

    A device already on vfio-pci is left alone.

    :raises ConfigUnsupportedError: when vfio-pci is not loaded.
    :raises HostError: when the kernel did not bind vfio-pci.
    :raises SystemCallError: when a sysfs write fails.
    """
    original = sysfs.driver_of(addr)
    if original == VFIO_DRIVER:
        return original
    require_vfio(sysfs)
    dev = sysfs.device_dir(addr)
    sysfs.write(dev / "driver_override", VFIO_DRIVER)
    if original is not None:
        sysfs.write(sysfs.driver_dir(original) / "unbind", addr.host_string)
    sysfs.write(sysfs.probe_file, addr.host_string)
    now = sysfs.driver_of(addr)
    if now != VFIO_DRIVER:
        raise HostError(f"Failed to bind PCI device '{addr}' to {VFIO_DRIVER} (bound to "
                        f"'{now or 'no driver'}' after probing)")
    return original


def reattach(sysfs: Sysfs, addr: PciAddress, *, reprobe: bool = True) -> None:
    """Give *addr* back to the host: off vfio-pci, override cleared, and (*reprobe*)
    the kernel asked to bind its own driver again. Callers skip this for a device that
    was on vfio-pci before pyvirt took it, and pass ``reprobe=False`` for one that had
    no driver.

    :raises SystemCallError: when a sysfs write fails.
    """
    if sysfs.driver_of(addr) == VFIO_DRIVER:
        sysfs.write(sysfs.driver_dir(VFIO_DRIVER) / "unbind", addr.host_string)
    sysfs.write(sysfs.device_dir(addr) / "driver_override", "\n")
    if reprobe:
        sysfs.write(sysfs.probe_file, addr.host_string)
