"""The netlink boundary: a VF's admin MAC and VLAN, set through its PF.

Three calls, the ones libvirt makes (``virNetDevSetVfMac``, ``virNetDevSetVfVlan``,
``virNetDevGetVfConfig``): ``RTM_SETLINK`` on the **PF** with ``IFLA_VF_MAC {vf, mac}``
(``ip link set PF vf N mac M``), with ``IFLA_VF_VLAN {vf, vlan, qos=0}``
(``ip link set PF vf N vlan V``), and ``RTM_GETLINK`` with ``RTEXT_FILTER_VF`` to read
``IFLA_VFINFO_LIST``. :class:`PyrouteNetlink` sends them with pyroute2;
:class:`RecordingNetlink` plays a PF for tests and keeps every request it was given.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any, Protocol

from pyvirt.errors import NetlinkCallError
from pyvirt.types import MacAddress

ZERO_MAC = MacAddress("00:00:00:00:00:00")
RTEXT_FILTER_VF = 1


@dataclass(frozen=True)
class VfNetConfig:
    """A VF's admin settings as its PF reports them (VLAN 0: none)."""

    mac: MacAddress
    vlan: int = 0


def mac_request(vf: int, mac: MacAddress) -> dict[str, Any]:
    """The ``vf=`` argument of ``IPRoute.link("set", index=PF, vf=...)`` for a MAC."""
    return {"vf": vf, "mac": str(mac)}


def vlan_request(vf: int, vlan: int) -> dict[str, Any]:
    """The same for a VLAN (0 clears it); QoS 0 as libvirt sends it."""
    return {"vf": vf, "vlan": {"vlan": vlan, "qos": 0}}


class Netlink(Protocol):
    def get_vf(self, pf: str, vf: int) -> VfNetConfig:
        """:raises NetlinkCallError: when the PF or the VF is unknown."""
        ...

    def set_vf_mac(self, pf: str, vf: int, mac: MacAddress) -> None:
        """:raises NetlinkCallError: with the kernel's errno (EINVAL, EPERM ...)."""
        ...

    def set_vf_vlan(self, pf: str, vf: int, vlan: int) -> None:
        """:raises NetlinkCallError: with the kernel's errno."""
        ...


def _mac_failed(pf: str, vf: int, mac: MacAddress) -> str:
    return f"Cannot set interface MAC to {mac} for ifname {pf} vf {vf}"


def _vlan_failed(pf: str, vf: int, vlan: int) -> str:
    return f"Cannot set interface vlanid to {vlan} for ifname {pf} vf {vf}"


def vf_config_from_link(msg: Any, vf: int) -> VfNetConfig | None:
    """Pick VF *vf* out of an ``RTM_NEWLINK`` answer's ``IFLA_VFINFO_LIST``."""
    vfinfo = msg.get_attr("IFLA_VFINFO_LIST")
    for info in vfinfo.get_attrs("IFLA_VF_INFO") if vfinfo is not None else ():
        mac = info.get_attr("IFLA_VF_MAC")
        if mac is not None and mac["vf"] == vf:
            vlan = info.get_attr("IFLA_VF_VLAN")
            return VfNetConfig(MacAddress.parse(mac["mac"]), vlan["vlan"] if vlan else 0)
    return None


class PyrouteNetlink:
    """The real thing: one short-lived rtnetlink socket per call (needs CAP_NET_ADMIN)."""

    def _call(self, pf: str, what: str, **kwargs: Any) -> list[Any]:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            with IPRoute() as ipr:
                found = ipr.link_lookup(ifname=pf)
                if not found:
                    raise NetlinkCallError(f"{what}: no network interface '{pf}'",
                                           errno.ENODEV)
                return list(ipr.link(kwargs.pop("command"), index=found[0], **kwargs))
        except NetlinkError as err:
            raise NetlinkCallError(what, err.code) from err
        except OSError as err:  # no netlink socket at all (e.g. a sandbox)
            raise NetlinkCallError(what, err.errno or errno.EIO) from err

    def get_vf(self, pf: str, vf: int) -> VfNetConfig:
        what = f"Cannot read the configuration of ifname {pf} vf {vf}"
        for msg in self._call(pf, what, command="get", ext_mask=RTEXT_FILTER_VF):
            config = vf_config_from_link(msg, vf)
            if config is not None:
                return config
        raise NetlinkCallError(what, errno.ENODEV)

    def set_vf_mac(self, pf: str, vf: int, mac: MacAddress) -> None:
        self._call(pf, _mac_failed(pf, vf, mac), command="set", vf=mac_request(vf, mac))

    def set_vf_vlan(self, pf: str, vf: int, vlan: int) -> None:
        self._call(pf, _vlan_failed(pf, vf, vlan), command="set", vf=vlan_request(vf, vlan))


@dataclass
class RecordingNetlink:
    """A PF (or several) in memory: answers like the kernel and records each request.

    ``vfs`` is the admin state per (PF, VF); ``refuse`` maps ``("mac", value)`` or
    ``("vlan", value)`` to the errno the PF answers with. ``log`` gets one
    ``ip link ...`` line per request (pass a shared list to interleave it with other
    fakes); ``requests`` keeps the exact ``link("set")`` arguments.
    """

    vfs: dict[tuple[str, int], VfNetConfig] = field(default_factory=dict)
    refuse: dict[tuple[str, object], int] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def _vf(self, pf: str, vf: int, what: str) -> VfNetConfig:
        if (pf, vf) not in self.vfs:
            raise NetlinkCallError(what, errno.ENODEV)
        return self.vfs[(pf, vf)]

    def get_vf(self, pf: str, vf: int) -> VfNetConfig:
        self.log.append(f"ip link show {pf} vf {vf}")
        return self._vf(pf, vf, f"Cannot read the configuration of ifname {pf} vf {vf}")

    def set_vf_mac(self, pf: str, vf: int, mac: MacAddress) -> None:
        self.log.append(f"ip link set {pf} vf {vf} mac {mac}")
        self.requests.append({"command": "set", "ifname": pf, "vf": mac_request(vf, mac)})
        old = self._vf(pf, vf, _mac_failed(pf, vf, mac))
        if ("mac", str(mac)) in self.refuse:
            raise NetlinkCallError(_mac_failed(pf, vf, mac), self.refuse[("mac", str(mac))])
        self.vfs[(pf, vf)] = VfNetConfig(mac, old.vlan)

    def set_vf_vlan(self, pf: str, vf: int, vlan: int) -> None:
        self.log.append(f"ip link set {pf} vf {vf} vlan {vlan}")
        self.requests.append({"command": "set", "ifname": pf, "vf": vlan_request(vf, vlan)})
        old = self._vf(pf, vf, _vlan_failed(pf, vf, vlan))
        if ("vlan", vlan) in self.refuse:
            raise NetlinkCallError(_vlan_failed(pf, vf, vlan), self.refuse[("vlan", vlan)])
        self.vfs[(pf, vf)] = VfNetConfig(old.mac, vlan)
