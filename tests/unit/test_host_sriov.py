"""SriovHost on a fake host: the order of what it does to a VF, and its refusals."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pyvirt.domain.model import InterfaceType
from pyvirt.errors import ConfigUnsupportedError, OperationInvalidError, PyvirtError
from pyvirt.host.netlink import ZERO_MAC, VfNetConfig
from pyvirt.host.netstate import Claim
from pyvirt.host.vfnet import ALT_ZERO_MAC
from pyvirt.types import MacAddress
from tests.unit.test_host_fakes import (
    AUDIO,
    NIC,
    PARTNER_MAC,
    PF_NETDEV,
    VF1,
    VF1_ORIGINAL,
    VFS,
    define,
    hostdev_iface,
    make_host,
    plain_hostdev,
)

VLAN42 = "<vlan><tag id='42'/></vlan>"

BIND_VF1 = ["override 0000:03:10.2 vfio-pci", "unbind 0000:03:10.2 from ixgbevf",
            "probe 0000:03:10.2 -> vfio-pci"]
REBIND_VF1 = ["unbind 0000:03:10.2 from vfio-pci", "override 0000:03:10.2 (clear)",
              "probe 0000:03:10.2 -> ixgbevf"]
RESTORE_VF1 = [f"ip link set {PF_NETDEV} vf 1 mac aa:bb:cc:00:00:01",
               f"ip link set {PF_NETDEV} vf 1 vlan 7", f"drop saved {PF_NETDEV} vf 1"]


def test_start_then_destroy_binds_saves_sets_then_restores_and_rebinds(tmp_path: Path
                                                                       ) -> None:
    host = make_host(tmp_path)
    live = define("guest", hostdev_iface(extra=VLAN42))
    assert live.devices.interfaces[1].mac == PARTNER_MAC  # inherited at define

    prepared = host.sriov().prepare(live)
    assert prepared == live  # a fixed VF: the live definition is already right
    assert host.journal == [
        *BIND_VF1,
        f"ip link show {PF_NETDEV} vf 1",
        f"save {PF_NETDEV} vf 1 mac aa:bb:cc:00:00:01 vlan 7",
        f"ip link set {PF_NETDEV} vf 1 mac {PARTNER_MAC}",
        f"ip link set {PF_NETDEV} vf 1 vlan 42",
    ]
    assert host.vf(1) == VfNetConfig(PARTNER_MAC, 42)
    assert host.kernel.driver_of(VF1) == "vfio-pci"

    host.journal.clear()
    host.sriov().release(prepared)  # destroy (a new pyvirt command)
    assert host.journal == [*RESTORE_VF1, *REBIND_VF1]
    assert host.vf(1) == VF1_ORIGINAL
    assert host.kernel.driver_of(VF1) == "ixgbevf"
    assert not host.sriov().state.has_records()


def test_release_is_idempotent(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    live = host.sriov().prepare(define("guest", hostdev_iface()))
    host.sriov().release(live)
    host.journal.clear()
    host.sriov().release(live)
    assert host.journal == []
    assert host.warnings == []


def test_no_vlan_clears_it_and_a_refused_implicit_clear_is_tolerated(tmp_path: Path
                                                                     ) -> None:
    host = make_host(tmp_path)
    host.netlink.refuse[("vlan", 0)] = errno.EPERM
    host.sriov().prepare(define("guest", hostdev_iface()))
    assert host.journal[-1] == f"ip link set {PF_NETDEV} vf 1 vlan 0"
    assert host.vf(1) == VfNetConfig(PARTNER_MAC, 7)  # the PF kept its VLAN


def test_explicit_vlan_refused_gives_everything_back(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    host.netlink.refuse[("vlan", 42)] = errno.EPERM
    with pytest.raises(PyvirtError) as err:
        host.sriov().prepare(define("guest", hostdev_iface(extra=VLAN42)))
    assert str(err.value) == (f"Cannot set interface vlanid to 42 for ifname {PF_NETDEV} "
                              "vf 1: Operation not permitted")
    assert host.journal[-7:] == [f"ip link set {PF_NETDEV} vf 1 vlan 42", *RESTORE_VF1,
                                 *REBIND_VF1]
    assert host.vf(1) == VF1_ORIGINAL
    assert not host.sriov().state.has_records()


def test_vlan_trunk_refused_before_touching_anything(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    trunk = "<vlan trunk='yes'><tag id='42'/><tag id='43'/></vlan>"
    with pytest.raises(ConfigUnsupportedError) as err:
        host.sriov().prepare(define("guest", hostdev_iface(extra=trunk)))
    assert str(err.value) == ("unsupported configuration: vlan trunking is not supported "
                              "by SR-IOV network devices")
    assert host.journal == []


def test_hostdev_interface_on_a_nic_that_is_no_vf(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    with pytest.raises(ConfigUnsupportedError) as err:
        host.sriov().prepare(define("guest", hostdev_iface(NIC)))
    assert str(err.value) == ("unsupported configuration: Interface type hostdev is "
                              "currently supported on SR-IOV Virtual Functions only")
    assert host.journal == []


def test_missing_device_is_named(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    gone = VFS[0].__class__(0, 0x07, 0, 0)
    with pytest.raises(PyvirtError, match=r"^Device 0000:07:00.0 not found: could not "
                                          r"access .*/0000:07:00.0/config: No such file"):
        host.sriov().prepare(define("guest", hostdev_iface(gone)))


def test_vf_in_use_by_a_running_guest(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    host.sriov().prepare(define("first", hostdev_iface()))
    host.running.add("first")
    host.journal.clear()
    with pytest.raises(OperationInvalidError) as err:
        host.sriov().prepare(define("second", hostdev_iface()))
    assert str(err.value) == ("Requested operation is not valid: PCI device 0000:03:10.2 "
                              "is in use by driver QEMU, domain first")
    assert [j for j in host.journal if not j.startswith("ip link show")] == []


def test_managed_no_requires_vfio_pci_already(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    with pytest.raises(OperationInvalidError) as err:
        host.sriov().prepare(define("guest", hostdev_iface(managed="no")))
    assert str(err.value) == (
        "Requested operation is not valid: PCI device 0000:03:10.2 (interface 'hostdev0') has "
        "managed='no' but is bound to 'ixgbevf', not vfio-pci: run 'pyvirt nodedev-detach "
        "0000:03:10.2' first, or set managed='yes'")


def test_managed_no_on_vfio_is_programmed_but_never_rebound(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    host.sriov().nodedev_detach(VF1)
    host.journal.clear()
    live = host.sriov().prepare(define("guest", hostdev_iface(managed="no")))
    host.sriov().release(live)
    assert not any(j.startswith(("override", "unbind", "probe")) for j in host.journal)
    assert host.kernel.driver_of(VF1) == "vfio-pci"
    assert host.vf(1) == VF1_ORIGINAL


def test_vfio_not_loaded(tmp_path: Path) -> None:
    host = make_host(tmp_path, vfio_loaded=False)
    with pytest.raises(ConfigUnsupportedError, match=r"^unsupported configuration: host "
                       r"doesn't support VFIO PCI passthrough: the vfio-pci driver is not "
                       r"loaded"):
        host.sriov().prepare(define("guest", hostdev_iface()))
    assert host.journal == []


def test_iommu_group_not_viable(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    with pytest.raises(OperationInvalidError) as err:
        host.sriov().prepare(define("guest", hostdev_iface(VFS[3])))
    assert str(err.value) == (
        f"Requested operation is not valid: IOMMU group 44 of PCI device {VFS[3]} is not "
        f"viable: device {AUDIO} in the same group is bound to driver 'snd_hda_intel'; "
        f"assign it too or detach it with 'pyvirt nodedev-detach {AUDIO}'")


def test_no_iommu_group(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    (host.kernel.device_dir(VF1) / "iommu_group").unlink()
    with pytest.raises(ConfigUnsupportedError, match="is in no IOMMU group: enable the "
                                                     "IOMMU"):
        host.sriov().prepare(define("guest", hostdev_iface()))


def test_bind_that_the_kernel_does_not_honour(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    host.kernel.probe_result[VF1] = "ixgbevf"
    with pytest.raises(PyvirtError, match=r"Failed to bind PCI device '0000:03:10.2' to "
                                          r"vfio-pci \(bound to 'ixgbevf' after probing\)"):
        host.sriov().prepare(define("guest", hostdev_iface()))
    assert not host.sriov().state.has_records()


def test_all_zero_original_mac_restored_through_the_fallback(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    host.netlink.vfs[(PF_NETDEV, 1)] = VfNetConfig(ZERO_MAC)
    host.netlink.refuse[("mac", str(ZERO_MAC))] = errno.EINVAL
    live = host.sriov().prepare(define("guest", hostdev_iface()))
    host.journal.clear()
    host.sriov().release(live)
    assert host.journal[:3] == [f"ip link set {PF_NETDEV} vf 1 mac {ZERO_MAC}",
                                f"ip link set {PF_NETDEV} vf 1 mac {ALT_ZERO_MAC}",
                                f"ip link set {PF_NETDEV} vf 1 vlan 0"]
    assert host.vf(1).mac == ALT_ZERO_MAC
    assert host.warnings == [f"{PF_NETDEV} refuses the all-zero MAC address for VF 1; set "
                             "02:00:00:00:00:00 instead"]


def test_plain_hostdev_is_bound_not_programmed_and_a_mac_mismatch_warned(tmp_path: Path
                                                                         ) -> None:
    host = make_host(tmp_path)
    live = host.sriov().prepare(define("guest", plain_hostdev()))
    assert host.journal == [*BIND_VF1, f"ip link show {PF_NETDEV} vf 1"]
    assert host.warnings == [
        f"hostdev 'hostdev0' is VF 1 of {PF_NETDEV} with admin MAC aa:bb:cc:00:00:01, but its "
        f"persistent partner has MAC {PARTNER_MAC}: the guest will not pair them; run "
        f"'ip link set {PF_NETDEV} vf 1 mac {PARTNER_MAC}' or use <interface "
        "type='hostdev'>, whose MAC pyvirt programs"]
    host.journal.clear()
    host.sriov().release(live)
    assert host.journal == REBIND_VF1


def test_plain_hostdev_with_the_partners_mac_is_quiet(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    host.netlink.vfs[(PF_NETDEV, 1)] = VfNetConfig(PARTNER_MAC)
    host.sriov().prepare(define("guest", plain_hostdev()))
    assert host.warnings == []


def test_domain_without_host_devices_touches_nothing(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    live = define("plain", "<interface type='user'><model type='e1000e'/></interface>")
    sriov = host.sriov()
    assert sriov.prepare(live) is live
    sriov.release(live)
    assert host.journal == []
    assert not host.root.run_dir.exists()


def test_two_fixed_vfs_of_one_domain_and_a_failure_in_the_second(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    xml = hostdev_iface() + plain_hostdev(VFS[2]).replace("ua-backup0", "ua-other")
    xml = xml.replace("<teaming type='transient' persistent='ua-other'/>", "")
    host.kernel.probe_result[VFS[2]] = "ixgbevf"  # the second bind fails
    with pytest.raises(PyvirtError, match=r"Failed to bind PCI device '0000:03:10\.4'"):
        host.sriov().prepare(define("guest", xml))
    assert host.vf(1) == VF1_ORIGINAL
    assert host.kernel.driver_of(VF1) == "ixgbevf"
    assert not host.sriov().state.has_records()


def test_the_claim_records_what_release_needs(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    host.sriov().prepare(define("guest", hostdev_iface()))
    assert host.sriov().state.claim(VF1) == Claim(VF1, "guest", True, "ixgbevf",
                                                  (PF_NETDEV, 1), None)


def test_hostdev_interface_keeps_its_own_mac_when_not_teamed(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    own = MacAddress("52:54:00:aa:bb:cc")
    xml = hostdev_iface().replace("<teaming type='transient' persistent='ua-backup0'/>",
                                  f"<mac address='{own}'/>")
    live = define("guest", xml)
    assert live.devices.interfaces[1].type is InterfaceType.HOSTDEV
    host.sriov().prepare(live)
    assert host.vf(1).mac == own
