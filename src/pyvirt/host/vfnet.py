"""Setting and restoring a VF's admin MAC and VLAN, with libvirt's tolerances.

* An all-zero admin MAC that the PF refuses (EINVAL; several PF drivers do, typically
  when restoring a VF that never had an admin MAC) is retried once with libvirt's
  "altZeroMAC" ``02:00:00:00:00:00`` (all zero but the locally-administered bit).
* With no ``<vlan>`` the VLAN is still cleared (tag 0); a PF that forbids that (EPERM,
  e.g. SmartNIC/DPU VFs) is tolerated, as since libvirt 8.1.0. An explicit tag that
  fails is an error, including tag 0.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from pyvirt.errors import NetlinkCallError
from pyvirt.host.netlink import ZERO_MAC, Netlink
from pyvirt.host.netstate import SavedVf
from pyvirt.types import MacAddress

ALT_ZERO_MAC = MacAddress("02:00:00:00:00:00")


def zero_mac_fallback_note(pf: str, vf: int) -> str:
    return (f"{pf} refuses the all-zero MAC address for VF {vf}; "
            f"set {ALT_ZERO_MAC} instead")


def set_admin_mac(netlink: Netlink, pf: str, vf: int, mac: MacAddress,
                  warn: Callable[[str], None]) -> MacAddress:
    """Set VF *vf*'s admin MAC; returns the MAC actually set.

    :raises NetlinkCallError: when the PF refuses (after the all-zero retry).
    """
    try:
        netlink.set_vf_mac(pf, vf, mac)
        return mac
    except NetlinkCallError as err:
        if mac != ZERO_MAC or err.errno != errno.EINVAL:
            raise
    warn(zero_mac_fallback_note(pf, vf))
    netlink.set_vf_mac(pf, vf, ALT_ZERO_MAC)
    return ALT_ZERO_MAC


def set_vlan(netlink: Netlink, pf: str, vf: int, tag: int | None) -> None:
    """Set the VLAN tag, or (*tag* None) clear it, tolerating EPERM on the clear.

    :raises NetlinkCallError: when the PF refuses an explicit tag, or fails otherwise.
    """
    try:
        netlink.set_vf_vlan(pf, vf, tag or 0)
    except NetlinkCallError as err:
        if tag is not None or err.errno != errno.EPERM:
            raise


def restore(netlink: Netlink, saved: SavedVf, warn: Callable[[str], None]) -> None:
    """Put back the admin MAC and VLAN recorded in *saved* (VLAN 0: cleared, tolerantly).

    :raises NetlinkCallError: when the PF refuses.
    """
    set_admin_mac(netlink, saved.pf, saved.vf, saved.mac, warn)
    set_vlan(netlink, saved.pf, saved.vf, saved.vlan or None)
