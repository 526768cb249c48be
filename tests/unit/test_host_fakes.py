"""Generated sysfs trees and a fake kernel for the host tests (plus tests of the fakes).

The standard host (:func:`make_host`):

* PF ``0000:03:00.0`` (ixgbe, netdev ``enp3s0f0``) with four VFs ``0000:03:10.{0,2,4,6}``
  (VF index 0-3, ixgbevf, each alone in its IOMMU group); VF 1's admin MAC is
  ``aa:bb:cc:00:00:01`` with VLAN 7 on the PF;
* a plain NIC ``0000:04:00.0`` (e1000e, ``eno1``), not a VF;
* an audio function ``0000:05:00.1`` sharing IOMMU group 50 with VF 3 (makes it not
  viable);
* vfio-pci loaded.

:class:`FakeKernel` is the :class:`Sysfs` of that tree; its ``write`` does what the
kernel does (driver_override, unbind, drivers_probe) and logs it to a shared journal,
where the recording netlink and the recording state also write.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pyvirt.domain.defaults import mac_factory
from pyvirt.domain.io import domain_from_xml
from pyvirt.domain.model import Domain
from pyvirt.host.netlink import RecordingNetlink, VfNetConfig
from pyvirt.host.netstate import HostState, SavedVf
from pyvirt.host.sriov import SriovHost
from pyvirt.host.sysfs import Sysfs
from pyvirt.qemu.aliases import assign_aliases
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.define import prepare_definition
from pyvirt.store.roots import StateRoot
from pyvirt.types import MacAddress, PciAddress

PF = PciAddress.parse_host_string("0000:03:00.0")
VFS = tuple(PciAddress.parse_host_string(f"0000:03:10.{fn}") for fn in (0, 2, 4, 6))
VF1 = VFS[1]
NIC = PciAddress.parse_host_string("0000:04:00.0")
AUDIO = PciAddress.parse_host_string("0000:05:00.1")
PF_NETDEV = "enp3s0f0"
VF1_ORIGINAL = VfNetConfig(MacAddress("aa:bb:cc:00:00:01"), 7)


CAPS = Path(__file__).resolve().parents[1] / "data" / "caps" / "qemu-7.2-x86_64.json"
PARTNER_MAC = MacAddress("00:11:22:33:44:55")


def hostdev_iface(addr: PciAddress = VF1, extra: str = "", managed: str = "yes") -> str:
    """A transient ``<interface type='hostdev'>`` without a MAC (it inherits one)."""
    return (f"<interface type='hostdev' managed='{managed}'><source>"
            f"<address type='pci' domain='0x{addr.domain:04x}' bus='0x{addr.bus:02x}' "
            f"slot='0x{addr.slot:02x}' function='0x{addr.function:x}'/></source>{extra}"
            "<teaming type='transient' persistent='ua-backup0'/></interface>")


def plain_hostdev(addr: PciAddress = VF1) -> str:
    return (f"<hostdev mode='subsystem' type='pci' managed='yes'><source>"
            f"<address domain='0x{addr.domain:04x}' bus='0x{addr.bus:02x}' "
            f"slot='0x{addr.slot:02x}' function='0x{addr.function:x}'/></source>"
            "<teaming type='transient' persistent='ua-backup0'/></hostdev>")


def pool_iface(network: str = "sriov-pool") -> str:
    return (f"<interface type='network'><source network='{network}'/>"
            "<model type='virtio'/><teaming type='transient' persistent='ua-backup0'/>"
            "</interface>")


def domain_xml(name: str, transient: str) -> str:
    return (f"<domain type='kvm'><name>{name}</name><memory unit='MiB'>256</memory>"
            "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
            f"<interface type='user'><mac address='{PARTNER_MAC}'/><model type='virtio'/>"
            "<teaming type='persistent'/><alias name='ua-backup0'/></interface>"
            f"{transient}</devices></domain>")


def define(name: str, transient: str) -> Domain:
    """What ``define`` stores (teaming MAC inherited), as the runtime hands it to
    ``prepare`` (aliases assigned)."""
    counter = itertools.count(1)
    domain = prepare_definition(domain_from_xml(domain_xml(name, transient)),
                                QemuCaps.from_json(CAPS.read_text()),
                                mac_factory(lambda _n: bytes([0xAB, 0, next(counter)])))
    return assign_aliases(domain)


def _link(link: Path, target: str) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)


class FakeKernel(Sysfs):
    """A sysfs tree on disk and the kernel's reaction to writes into it."""

    def __init__(self, root: Path, journal: list[str], *, vfio_loaded: bool = True) -> None:
        super().__init__(root)
        self.journal = journal
        self.native: dict[PciAddress, str] = {}  # the driver probing picks without override
        self.probe_result: dict[PciAddress, str] = {}  # force a probe outcome (failures)
        (root / "bus" / "pci" / "devices").mkdir(parents=True)
        (root / "class" / "net").mkdir(parents=True)
        self.probe_file.touch()
        if vfio_loaded:
            self.add_driver("vfio-pci")

    def add_driver(self, name: str) -> None:
        d = self.driver_dir(name)
        d.mkdir(parents=True, exist_ok=True)
        for f in ("bind", "unbind", "new_id"):
            (d / f).touch()

    def add_device(self, addr: PciAddress, *, pci_class: int = 0x020000,
                   driver: str | None = None, group: int | None = None,
                   netdevs: tuple[str, ...] = ()) -> Path:
        d = self.device_dir(addr)
        d.mkdir(parents=True)
        (d / "class").write_text(f"{pci_class:#08x}\n")
        (d / "driver_override").write_text("(null)\n")
        if driver is not None:
            self.add_driver(driver)
            self.native[addr] = driver
            self._bind(addr, driver)
        if group is not None:
            _link(d / "iommu_group", f"../../../../kernel/iommu_groups/{group}")
            _link(self.root / "kernel" / "iommu_groups" / str(group) / "devices" /
                  addr.host_string, f"../../../../bus/pci/devices/{addr.host_string}")
        for net in netdevs:
            (d / "net" / net).mkdir(parents=True)
            _link(self.root / "class" / "net" / net / "device",
                  f"../../../bus/pci/devices/{addr.host_string}")
        return d

    def add_pf(self, pf: PciAddress, netdev: str, vfs: tuple[PciAddress, ...],
               first_group: int) -> None:
        self.add_device(pf, driver="ixgbe", group=first_group, netdevs=(netdev,))
        for n, vf in enumerate(vfs):
            self.add_device(vf, driver="ixgbevf", group=first_group + 1 + n)
            _link(self.device_dir(vf) / "physfn", f"../{pf.host_string}")
            _link(self.device_dir(pf) / f"virtfn{n}", f"../{vf.host_string}")

    def _bind(self, addr: PciAddress, driver: str) -> None:
        _link(self.device_dir(addr) / "driver", f"../../drivers/{driver}")

    def override(self, addr: PciAddress) -> str | None:
        text = (self.device_dir(addr) / "driver_override").read_text().strip()
        return None if text in ("", "(null)") else text

    def write(self, path: Path, value: str) -> None:
        super().write(path, value)  # the real write: the attribute must exist
        rel = path.relative_to(self.root).parts
        if rel[-1] == "driver_override":
            addr = PciAddress.parse_host_string(rel[-2])
            self.journal.append(f"override {addr} {value.strip() or '(clear)'}")
            if not value.strip():
                path.write_text("(null)\n")
        elif rel[-1] == "unbind":
            addr = PciAddress.parse_host_string(value.strip())
            assert self.driver_of(addr) == rel[-2], f"{addr} is not bound to {rel[-2]}"
            (self.device_dir(addr) / "driver").unlink()
            self.journal.append(f"unbind {addr} from {rel[-2]}")
        elif path == self.probe_file:
            addr = PciAddress.parse_host_string(value.strip())
            if self.driver_of(addr) is None:
                driver = self.probe_result.get(addr) or self.override(addr) \
                    or self.native.get(addr)
                if driver is not None:
                    self._bind(addr, driver)
                self.journal.append(f"probe {addr} -> {driver or 'none'}")


class RecordingState(HostState):
    """The real state files, with saves and drops noted in the journal."""

    def __init__(self, directory: Path, journal: list[str]) -> None:
        super().__init__(directory)
        self.journal = journal

    def save_vf(self, saved: SavedVf) -> bool:
        self.journal.append(f"save {saved.pf} vf {saved.vf} mac {saved.mac} "
                            f"vlan {saved.vlan}")
        return super().save_vf(saved)

    def drop_vf(self, pf: str, vf: int) -> None:
        self.journal.append(f"drop saved {pf} vf {vf}")
        super().drop_vf(pf, vf)


@dataclass
class FakeHost:
    """One fake machine: a state root, its kernel, its PF, its journal."""

    base: Path
    journal: list[str] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    vfio_loaded: bool = True

    def __post_init__(self) -> None:
        self.root = StateRoot(self.base / "etc", self.base / "run", self.base / "log",
                              self.base / "cache")
        self.kernel = FakeKernel(self.base / "sys", self.journal, vfio_loaded=self.vfio_loaded)
        self.netlink = RecordingNetlink(
            vfs={(PF_NETDEV, n): VfNetConfig(MacAddress(f"aa:bb:cc:00:00:0{n}"))
                 for n in range(len(VFS))},
            log=self.journal)
        self.netlink.vfs[(PF_NETDEV, 1)] = VF1_ORIGINAL

    def sriov(self) -> SriovHost:
        """A fresh SriovHost (a new pyvirt command) on this machine."""
        return SriovHost(self.root, sysfs=self.kernel, netlink=self.netlink,
                         busy=self.running.__contains__, warn=self.warnings.append,
                         state=RecordingState(self.root.run_dir / "hostdev", self.journal))

    def vf(self, n: int) -> VfNetConfig:
        return self.netlink.vfs[(PF_NETDEV, n)]


def make_host(base: Path, *, vfio_loaded: bool = True) -> FakeHost:
    host = FakeHost(base, vfio_loaded=vfio_loaded)
    k = host.kernel
    k.add_pf(PF, PF_NETDEV, VFS, first_group=40)
    k.add_device(NIC, driver="e1000e", group=60, netdevs=("eno1",))
    k.add_device(AUDIO, pci_class=0x040300, driver="snd_hda_intel", group=44)
    return host


# --- tests of the fakes themselves ------------------------------------------------------


def test_fake_tree_looks_like_sysfs(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    dev = host.kernel.device_dir(VF1)
    assert os.readlink(dev / "physfn") == "../0000:03:00.0"
    assert os.readlink(dev / "driver") == "../../drivers/ixgbevf"
    assert (dev / "class").read_text() == "0x020000\n"
    assert host.kernel.group_members(44) == (VFS[3], AUDIO)


def test_fake_kernel_binds_the_override_on_probe(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    k = host.kernel
    k.write(k.device_dir(VF1) / "driver_override", "vfio-pci")
    k.write(k.driver_dir("ixgbevf") / "unbind", VF1.host_string)
    k.write(k.probe_file, VF1.host_string)
    assert k.driver_of(VF1) == "vfio-pci"
    assert host.journal == ["override 0000:03:10.2 vfio-pci",
                            "unbind 0000:03:10.2 from ixgbevf",
                            "probe 0000:03:10.2 -> vfio-pci"]


def test_writing_a_missing_attribute_fails_like_sysfs(tmp_path: Path) -> None:
    from pyvirt.errors import SystemCallError

    host = make_host(tmp_path, vfio_loaded=False)
    with pytest.raises(SystemCallError, match="No such file or directory"):
        host.kernel.write(host.kernel.driver_dir("vfio-pci") / "unbind", VF1.host_string)
