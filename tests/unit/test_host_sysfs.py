"""Discovery in a generated sysfs tree, and vfio-pci bind/unbind on the fake kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyvirt.errors import ConfigUnsupportedError, SystemCallError
from pyvirt.host import vfio
from pyvirt.host.sysfs import NoNodeDeviceError, nodedev_name, parse_device_name
from pyvirt.types import PciAddress
from tests.unit.test_host_fakes import AUDIO, NIC, PF, PF_NETDEV, VF1, VFS, make_host


def test_a_vf_knows_its_pf_netdev_index_group_driver_and_class(tmp_path: Path) -> None:
    dev = make_host(tmp_path).kernel.device(VF1)
    assert dev.is_vf and dev.is_network
    assert (dev.physfn, dev.vf_index, dev.pf_netdev) == (PF, 1, PF_NETDEV)
    assert (dev.iommu_group, dev.driver, dev.pci_class) == (42, "ixgbevf", 0x020000)


def test_a_plain_nic_is_no_vf(tmp_path: Path) -> None:
    dev = make_host(tmp_path).kernel.device(NIC)
    assert not dev.is_vf and dev.is_network
    assert (dev.vf_index, dev.pf_netdev, dev.netdevs) == (None, None, ("eno1",))


def test_other_classes(tmp_path: Path) -> None:
    dev = make_host(tmp_path).kernel.device(AUDIO)
    assert not dev.is_network and dev.pci_class == 0x040300


def test_missing_device(tmp_path: Path) -> None:
    kernel = make_host(tmp_path).kernel
    with pytest.raises(SystemCallError) as err:
        kernel.device(PciAddress(0, 9, 0, 0))
    assert str(err.value) == (f"Device 0000:09:00.0 not found: could not access "
                              f"{kernel.root}/bus/pci/devices/0000:09:00.0/config: No such "
                              "file or directory")


def test_vfs_of_a_pf_by_index_even_past_ten(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    assert host.kernel.vfs_of_netdev(PF_NETDEV) == VFS
    many = tuple(PciAddress(0, 0x0A, 0x10 + n // 8, n % 8) for n in range(12))
    host.kernel.add_pf(PciAddress(0, 0x0A, 0, 0), "enp10s0", many, first_group=100)
    assert host.kernel.vfs_of_netdev("enp10s0") == many
    with pytest.raises(SystemCallError, match="'nosuch'"):
        host.kernel.vfs_of_netdev("nosuch")


def test_no_iommu_means_no_group(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    (host.kernel.device_dir(VF1) / "iommu_group").unlink()
    assert host.kernel.device(VF1).iommu_group is None


@pytest.mark.parametrize("text", ["pci_0000_03_10_2", "0000:03:10.2", "03:10.2"])
def test_device_names(text: str) -> None:
    assert parse_device_name(text) == VF1
    assert nodedev_name(VF1) == "pci_0000_03_10_2"


def test_bad_device_name() -> None:
    with pytest.raises(NoNodeDeviceError) as err:
        parse_device_name("net_eth0")
    assert str(err.value) == "Node device not found: no node device with matching name " \
                             "'net_eth0'"


def test_detach_and_reattach_use_driver_override(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    assert vfio.detach(host.kernel, VF1) == "ixgbevf"
    assert host.kernel.override(VF1) == "vfio-pci"
    assert vfio.detach(host.kernel, VF1) == "vfio-pci"  # already there: nothing written
    vfio.reattach(host.kernel, VF1)
    assert host.journal == [
        "override 0000:03:10.2 vfio-pci", "unbind 0000:03:10.2 from ixgbevf",
        "probe 0000:03:10.2 -> vfio-pci",
        "unbind 0000:03:10.2 from vfio-pci", "override 0000:03:10.2 (clear)",
        "probe 0000:03:10.2 -> ixgbevf"]
    assert host.kernel.override(VF1) is None


def test_unbound_device_stays_unbound_after_reattach(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    (host.kernel.device_dir(VF1) / "driver").unlink()
    assert vfio.detach(host.kernel, VF1) is None
    vfio.reattach(host.kernel, VF1, reprobe=False)
    assert host.kernel.driver_of(VF1) is None
    assert not any(j.startswith("unbind 0000:03:10.2 from ixgbevf") for j in host.journal)


def test_detach_without_vfio(tmp_path: Path) -> None:
    host = make_host(tmp_path, vfio_loaded=False)
    with pytest.raises(ConfigUnsupportedError, match="run 'modprobe vfio-pci'"):
        vfio.detach(host.kernel, VF1)
    assert host.journal == []
