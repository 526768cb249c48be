"""PCI device discovery through sysfs, under an injectable root.

Everything pyvirt learns about a host device comes from the kernel's sysfs layout:

* ``bus/pci/devices/<addr>/`` – ``class``, ``driver`` (symlink to the bound driver),
  ``driver_override``, ``iommu_group`` (symlink to ``kernel/iommu_groups/<n>``), ``net/<ifname>``;
* a Virtual Function has ``physfn`` (symlink to its PF); the PF has ``virtfn<N>``
  symlinks, and N is the VF index that netlink calls use;
* ``class/net/<ifname>/device`` leads from a netdev back to its PCI device.

Tests hand :class:`Sysfs` the root of a generated tree; :meth:`Sysfs.write` is the one
place a change is made, so a test double can play the kernel's part there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pyvirt.errors import NoNodeDeviceError, PyvirtError, SystemCallError
from pyvirt.types import PciAddress

VFIO_DRIVER = "vfio-pci"
STUB_DRIVERS = frozenset({VFIO_DRIVER, "pci-stub"})
PCI_CLASS_NETWORK = 0x02
PCI_CLASS_BRIDGE = 0x0604  # class/subclass of PCI-to-PCI bridges (harmless in a group)
_VIRTFN = re.compile(r"^virtfn(\d+)$")


@dataclass(frozen=True)
class PciDevice:
    """What sysfs says about one PCI function."""

    address: PciAddress
    pci_class: int  # 24-bit class code, e.g. 0x020000 for an Ethernet controller
    driver: str | None  # the bound driver's name, None when unbound
    iommu_group: int | None  # None when the host has no IOMMU enabled
    physfn: PciAddress | None  # the PF, for a Virtual Function
    vf_index: int | None  # N of the PF's virtfnN link that names this VF
    pf_netdev: str | None  # the PF's network interface (first one: port 1)
    netdevs: tuple[str, ...]  # this function's own netdevs (none while on vfio-pci)

    @property
    def is_vf(self) -> bool:
        return self.physfn is not None

    @property
    def is_network(self) -> bool:
        return self.pci_class >> 16 == PCI_CLASS_NETWORK


def nodedev_name(addr: PciAddress) -> str:
    """libvirt's node device name: ``pci_0000_03_10_1``."""
    return f"pci_{addr.domain:04x}_{addr.bus:02x}_{addr.slot:02x}_{addr.function:x}"


def parse_device_name(text: str) -> PciAddress:
    """``pci_0000_03_10_1`` (virsh) or ``0000:03:10.1``.

    :raises NoNodeDeviceError: for anything else.
    """
    match = re.fullmatch(r"pci_([0-9a-fA-F]{4})_([0-9a-fA-F]{2})_([0-9a-fA-F]{2})_([0-7])", text)
    try:
        if match:
            dom, bus, slot, fn = (int(g, 16) for g in match.groups())
            return PciAddress(dom, bus, slot, fn)
        return PciAddress.parse_host_string(text)
    except PyvirtError:
        raise NoNodeDeviceError(f"no node device with matching name '{text}'") from None


class Sysfs:
    """Read (and, through :meth:`write`, change) PCI devices under *root* (``/sys``)."""

    def __init__(self, root: Path = Path("/sys")) -> None:
        self.root = root

    # --- paths ------------------------------------------------------------------------

    def device_dir(self, addr: PciAddress) -> Path:
        return self.root / "bus" / "pci" / "devices" / addr.host_string

    def driver_dir(self, driver: str) -> Path:
        return self.root / "bus" / "pci" / "drivers" / driver

    @property
    def probe_file(self) -> Path:
        return self.root / "bus" / "pci" / "drivers_probe"

    # --- reading ----------------------------------------------------------------------

    def exists(self, addr: PciAddress) -> bool:
        return self.device_dir(addr).is_dir()

    def device(self, addr: PciAddress) -> PciDevice:
        """Everything known about *addr*.

        :raises SystemCallError: in libvirt's words when the device does not exist.
        """
        path = self.device_dir(addr)
        if not path.is_dir():
            raise SystemCallError(f"Device {addr} not found: could not access "
                                  f"{path / 'config'}: No such file or directory")
        physfn = self._link_address(path / "physfn")
        vf_index = pf_netdev = None
        if physfn is not None:
            vf_index = self._vf_index(physfn, addr)
            pf_nets = self.netdevs(physfn)
            pf_netdev = pf_nets[0] if pf_nets else None
        return PciDevice(addr, self._pci_class(path), self.driver_of(addr),
                         self.iommu_group(addr), physfn, vf_index, pf_netdev,
                         self.netdevs(addr))

    def driver_of(self, addr: PciAddress) -> str | None:
        return _link_name(self.device_dir(addr) / "driver")

    def iommu_group(self, addr: PciAddress) -> int | None:
        name = _link_name(self.device_dir(addr) / "iommu_group")
        return int(name) if name and name.isdigit() else None

    def group_members(self, group: int) -> tuple[PciAddress, ...]:
        """Every device in IOMMU group *group*, sorted."""
        return tuple(sorted(_addresses(self.root / "kernel" / "iommu_groups" / str(group)
                                       / "devices")))

    def pci_class(self, addr: PciAddress) -> int:
        return self._pci_class(self.device_dir(addr))

    def netdevs(self, addr: PciAddress) -> tuple[str, ...]:
        try:
            return tuple(sorted(os.listdir(self.device_dir(addr) / "net")))
        except OSError:
            return ()

    def driver_loaded(self, driver: str) -> bool:
        return self.driver_dir(driver).is_dir()

    def vfs_of_netdev(self, netdev: str) -> tuple[PciAddress, ...]:
        """The VFs of PF *netdev*, by VF index.

        :raises SystemCallError: when *netdev* is not a PCI network device here.
        """
        pf_link = self.root / "class" / "net" / netdev / "device"
        pf = self._link_address(pf_link)
        if pf is None:
            raise SystemCallError(f"cannot find the PCI device of network interface "
                                  f"'{netdev}' ({pf_link}): No such file or directory")
        return tuple(addr for _n, addr in self._virtfns(pf))

    def _virtfns(self, pf: PciAddress) -> list[tuple[int, PciAddress]]:
        found = []
        try:
            names = os.listdir(self.device_dir(pf))
        except OSError:
            return []
        for name in names:
            match = _VIRTFN.match(name)
            addr = self._link_address(self.device_dir(pf) / name) if match else None
            if match and addr is not None:
                found.append((int(match.group(1)), addr))
        return sorted(found)

    def _vf_index(self, pf: PciAddress, vf: PciAddress) -> int | None:
        return next((n for n, addr in self._virtfns(pf) if addr == vf), None)

    @staticmethod
    def _pci_class(path: Path) -> int:
        try:
            return int((path / "class").read_text().strip(), 16)
        except (OSError, ValueError):
            return 0

    @staticmethod
    def _link_address(link: Path) -> PciAddress | None:
        name = _link_name(link)
        try:
            return PciAddress.parse_host_string(name) if name else None
        except PyvirtError:
            return None

    # --- changing ---------------------------------------------------------------------

    def write(self, path: Path, value: str) -> None:
        """Write *value* to the sysfs attribute *path* (never creating it).

        :raises SystemCallError: naming the attribute and the kernel's reason.
        """
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as err:
            raise SystemCallError(f"Failed to write '{value.strip()}' to '{path}': "
                                  f"{err.strerror}") from err
        try:
            os.write(fd, value.encode())
        except OSError as err:
            raise SystemCallError(f"Failed to write '{value.strip()}' to '{path}': "
                                  f"{err.strerror}") from err
        finally:
            os.close(fd)


def _link_name(link: Path) -> str | None:
    """The last component of a symlink's target (a driver, a group, a PCI address)."""
    try:
        return os.path.basename(os.readlink(link)) or None
    except OSError:
        return None


def _addresses(directory: Path) -> list[PciAddress]:
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = []
    for name in names:
        try:
            found.append(PciAddress.parse_host_string(name))
        except PyvirtError:
            continue
    return found
