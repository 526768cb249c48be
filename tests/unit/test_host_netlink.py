"""The netlink boundary: the exact rtnetlink messages, the pyroute2 calls, the policies.

No socket is opened: pyroute2's own request processor and message classes encode and
decode, and ``IPRoute`` is replaced by a stub that records what it was asked.
"""

from __future__ import annotations

import errno
from typing import Any, ClassVar

import pyroute2
import pytest
from pyroute2.iproute.linux import get_arguments_processor
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from pyvirt.host.netlink import (
    NetlinkCallError,
    PyrouteNetlink,
    RecordingNetlink,
    VfNetConfig,
    mac_request,
    vf_config_from_link,
    vlan_request,
)
from pyvirt.host.vfnet import ALT_ZERO_MAC, set_admin_mac, set_vlan
from pyvirt.types import MacAddress

MAC = MacAddress("00:11:22:33:44:55")


def encoded_vfinfo(request: dict[str, Any]) -> Any:
    """What pyroute2 puts on the wire for ``link("set", index=7, vf=request)``."""
    args = dict(get_arguments_processor("link", "set", {"index": 7, "vf": dict(request)}))
    msg = ifinfmsg()
    msg["index"] = args.pop("index")
    msg["attrs"] = [(name, value) for name, value in args.items()]
    msg.encode()
    wire = ifinfmsg(msg.data)
    wire.decode()
    return wire.get_attr("IFLA_VFINFO_LIST").get_attrs("IFLA_VF_INFO")[0]


def test_set_mac_is_ifla_vf_mac_on_the_pf() -> None:
    info = encoded_vfinfo(mac_request(2, MAC))
    assert dict(info.get_attr("IFLA_VF_MAC")) == {"vf": 2, "mac": str(MAC)}
    assert info.get_attr("IFLA_VF_VLAN") is None


def test_set_vlan_is_ifla_vf_vlan_with_qos_zero() -> None:
    info = encoded_vfinfo(vlan_request(2, 42))
    assert dict(info.get_attr("IFLA_VF_VLAN")) == {"vf": 2, "vlan": 42, "qos": 0}
    assert info.get_attr("IFLA_VF_MAC") is None


def link_answer() -> Any:
    msg = ifinfmsg()
    msg["index"] = 7
    msg["attrs"] = [("IFLA_VFINFO_LIST", {"attrs": [
        ("IFLA_VF_INFO", {"attrs": [
            ("IFLA_VF_MAC", {"vf": n, "mac": f"aa:bb:cc:00:00:0{n}"}),
            ("IFLA_VF_VLAN", {"vf": n, "vlan": 7 * n, "qos": 0})]})
        for n in range(3)]})]
    msg.encode()
    answer = ifinfmsg(msg.data)
    answer.decode()
    return answer


def test_reading_a_vf_out_of_the_pfs_link_answer() -> None:
    assert vf_config_from_link(link_answer(), 2) == VfNetConfig(
        MacAddress("aa:bb:cc:00:00:02"), 14)
    assert vf_config_from_link(link_answer(), 9) is None


class StubIPRoute:
    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    fail: ClassVar[int | None] = None

    def __enter__(self) -> StubIPRoute:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def link_lookup(self, ifname: str) -> list[int]:
        return [7] if ifname == "enp3s0f0" else []

    def link(self, command: str, **kwargs: Any) -> list[Any]:
        StubIPRoute.calls.append((command, kwargs))
        if StubIPRoute.fail is not None:
            raise NetlinkError(StubIPRoute.fail)
        return [link_answer()] if command == "get" else []


@pytest.fixture
def ipr(monkeypatch: pytest.MonkeyPatch) -> type[StubIPRoute]:
    StubIPRoute.calls = []
    StubIPRoute.fail = None
    monkeypatch.setattr(pyroute2, "IPRoute", StubIPRoute)
    return StubIPRoute


def test_pyroute_boundary_calls(ipr: type[StubIPRoute]) -> None:
    nl = PyrouteNetlink()
    assert nl.get_vf("enp3s0f0", 1) == VfNetConfig(MacAddress("aa:bb:cc:00:00:01"), 7)
    nl.set_vf_mac("enp3s0f0", 1, MAC)
    nl.set_vf_vlan("enp3s0f0", 1, 42)
    assert ipr.calls == [
        ("get", {"index": 7, "ext_mask": 1}),
        ("set", {"index": 7, "vf": {"vf": 1, "mac": str(MAC)}}),
        ("set", {"index": 7, "vf": {"vf": 1, "vlan": {"vlan": 42, "qos": 0}}}),
    ]


def test_pyroute_errors_carry_errno_and_libvirts_words(ipr: type[StubIPRoute]) -> None:
    ipr.fail = errno.EPERM
    with pytest.raises(NetlinkCallError) as err:
        PyrouteNetlink().set_vf_mac("enp3s0f0", 1, MAC)
    assert err.value.errno == errno.EPERM
    assert str(err.value) == (f"Cannot set interface MAC to {MAC} for ifname enp3s0f0 vf 1: "
                              "Operation not permitted")
    with pytest.raises(NetlinkCallError, match="no network interface 'eth9'"):
        PyrouteNetlink().set_vf_vlan("eth9", 1, 0)


def test_zero_mac_fallback_only_for_einval_on_zero() -> None:
    zero = MacAddress("00:00:00:00:00:00")
    nl = RecordingNetlink(vfs={("pf", 0): VfNetConfig(MAC)},
                          refuse={("mac", str(zero)): errno.EINVAL})
    notes: list[str] = []
    assert set_admin_mac(nl, "pf", 0, zero, notes.append) == ALT_ZERO_MAC
    assert nl.log == ["ip link set pf vf 0 mac 00:00:00:00:00:00",
                      "ip link set pf vf 0 mac 02:00:00:00:00:00"]
    assert notes == ["pf refuses the all-zero MAC address for VF 0; set 02:00:00:00:00:00 "
                     "instead"]
    nl.refuse[("mac", str(MAC))] = errno.EINVAL
    with pytest.raises(NetlinkCallError):
        set_admin_mac(nl, "pf", 0, MAC, notes.append)


def test_vlan_clear_tolerates_eperm_but_an_explicit_tag_does_not() -> None:
    nl = RecordingNetlink(vfs={("pf", 0): VfNetConfig(MAC, 5)},
                          refuse={("vlan", 0): errno.EPERM})
    set_vlan(nl, "pf", 0, None)
    with pytest.raises(NetlinkCallError, match="Cannot set interface vlanid to 0"):
        set_vlan(nl, "pf", 0, 0)
    assert nl.vfs[("pf", 0)] == VfNetConfig(MAC, 5)


def test_recording_netlink_keeps_the_exact_requests() -> None:
    nl = RecordingNetlink(vfs={("pf", 3): VfNetConfig(MAC)})
    nl.set_vf_vlan("pf", 3, 100)
    assert nl.requests == [{"command": "set", "ifname": "pf",
                            "vf": {"vf": 3, "vlan": {"vlan": 100, "qos": 0}}}]
    with pytest.raises(NetlinkCallError, match="No such device"):
        nl.get_vf("pf", 4)
