"""Hot-plug and hot-unplug of one device of a running domain."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pyvirt.domain.model import Domain, Interface, InterfaceType
from pyvirt.errors import OperationInvalidError
from pyvirt.host.netlink import VfNetConfig
from pyvirt.host.sriov import SriovHost
from tests.unit.test_host_fakes import (
    PARTNER_MAC,
    PF_NETDEV,
    VF1,
    VF1_ORIGINAL,
    VFS,
    define,
    hostdev_iface,
    make_host,
    plain_hostdev,
    pool_iface,
)


def split(domain: Domain) -> tuple[Domain, Interface]:
    """The running domain without its transient member, and that member."""
    nics = domain.devices.interfaces
    return replace(domain, devices=replace(domain.devices, interfaces=nics[:1])), nics[1]


def test_hot_plug_and_unplug_of_a_hostdev_interface(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    live, member = split(define("guest", hostdev_iface()))
    host.running.add("guest")
    assert host.sriov().prepare_device(live, member) == member
    assert [j for j in host.journal if not j.startswith("ip link show")] == [
        "override 0000:03:10.2 vfio-pci", "unbind 0000:03:10.2 from ixgbevf",
        "probe 0000:03:10.2 -> vfio-pci",
        f"save {PF_NETDEV} vf 1 mac aa:bb:cc:00:00:01 vlan 7",
        f"ip link set {PF_NETDEV} vf 1 mac {PARTNER_MAC}",
        f"ip link set {PF_NETDEV} vf 1 vlan 0"]
    host.journal.clear()
    host.sriov().release_device(live, member)
    assert host.journal[-1] == "probe 0000:03:10.2 -> ixgbevf"
    assert host.vf(1) == VF1_ORIGINAL


def test_hot_plug_of_a_vf_the_domain_already_holds(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    running = host.sriov().prepare(define("guest", hostdev_iface()))
    host.running.add("guest")
    with pytest.raises(OperationInvalidError, match="in use by driver QEMU, domain guest"):
        host.sriov().prepare_device(running, running.devices.interfaces[1])
    assert host.vf(1).mac == PARTNER_MAC  # the running guest's VF is untouched


def test_hot_plug_from_a_pool_returns_the_vf_it_got(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    store = host.sriov().networks
    store.define_xml("<network><name>sriov-pool</name><forward mode='hostdev' "
                     "managed='yes'><pf dev='enp3s0f0'/></forward></network>")
    store.start("sriov-pool")
    live, member = split(define("guest", pool_iface()))
    got = host.sriov().prepare_device(live, member)
    assert isinstance(got, Interface) and got.type is InterfaceType.HOSTDEV
    assert got.vf == VFS[0] and got.mac == PARTNER_MAC
    assert host.vf(0) == VfNetConfig(PARTNER_MAC, 0)
    host.sriov().release_device(live, got)
    assert host.kernel.driver_of(VFS[0]) == "ixgbevf"


def test_hot_plug_of_a_plain_hostdev(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    domain = define("guest", plain_hostdev())
    live = replace(domain, devices=replace(domain.devices, hostdevs=()))
    dev = domain.devices.hostdevs[0]
    assert host.sriov().prepare_device(live, dev) == dev
    assert host.kernel.driver_of(VF1) == "vfio-pci"
    assert len(host.warnings) == 1  # its VF's MAC is not the partner's
    host.sriov().release_device(live, dev)
    assert host.kernel.driver_of(VF1) == "ixgbevf"


def test_emulated_nics_need_nothing(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    live, member = split(define("guest", "<interface type='user'><model type='e1000e'/>"
                                         "</interface>"))
    assert host.sriov().prepare_device(live, member) is member
    host.sriov().release_device(live, member)
    assert host.journal == []


def test_sriov_host_is_what_the_hotplug_runtime_looks_for(tmp_path: Path) -> None:
    hotplug = pytest.importorskip("pyvirt.runtime.hotplug")
    protocol = getattr(hotplug, "DeviceHostHooks", None)
    if protocol is None:
        pytest.skip("runtime.hotplug has no DeviceHostHooks")
    assert isinstance(make_host(tmp_path).sriov(), protocol)
    assert issubclass(SriovHost, protocol)
