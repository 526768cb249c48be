"""Giving host devices back: restore the VF's saved MAC and VLAN, then rebind its driver.

Used on every release path (stop, hot-unplug, migration source cleanup), by rollback of
a failed prepare, by ``nodedev-reattach``, and by reconciliation of what a dead guest
or an interrupted pyvirt left behind. Callers hold the host lock.
"""

from __future__ import annotations

from collections.abc import Callable

from pyvirt.errors import PyvirtError
from pyvirt.host import vfio
from pyvirt.host.netlink import Netlink
from pyvirt.host.netstate import Claim, HostState, SavedVf
from pyvirt.host.sysfs import VFIO_DRIVER, Sysfs
from pyvirt.host.vfnet import restore


class GiveBack:
    """Undo claims and saved VF configs of one state root."""

    def __init__(self, sysfs: Sysfs, netlink: Netlink, state: HostState,
                 warn: Callable[[str], None]) -> None:
        self.sysfs = sysfs
        self.netlink = netlink
        self.state = state
        self.warn = warn

    def restore(self, saved: SavedVf) -> None:
        """Put the VF's saved admin MAC and VLAN back, then forget the record.

        :raises PyvirtError: when the PF refuses (the record stays for a retry).
        """
        restore(self.netlink, saved, self.warn)
        self.state.drop_vf(saved.pf, saved.vf)

    def undo(self, claim: Claim) -> None:
        """**Restore** the VF's saved MAC and VLAN, **rebind** the driver pyvirt took it
        from (not when it was on vfio-pci already, no probe when it had none), forget it.

        :raises PyvirtError: when a step fails (the records stay for a retry).
        """
        if claim.net is not None:
            saved = self.state.load_vf(*claim.net)
            if saved is not None:
                self.restore(saved)
        if claim.managed and claim.original_driver != VFIO_DRIVER \
                and self.sysfs.exists(claim.device):
            vfio.reattach(self.sysfs, claim.device,
                          reprobe=claim.original_driver is not None)
        self.state.drop_claim(claim.device)

    def undo_quietly(self, claim: Claim) -> None:
        """:meth:`undo`, turning a failure into a warning."""
        try:
            self.undo(claim)
        except (PyvirtError, OSError) as err:
            self.warn(f"could not give back PCI device {claim.device} of domain "
                      f"'{claim.domain}': {err}; retry with 'pyvirt nodedev-reattach "
                      f"{claim.device}'")

    def reconcile(self, busy: Callable[[str], bool], starting: str | None = None) -> None:
        """Undo what dead guests and interrupted pyvirt commands left.

        Claims of domains that are not *busy* (and of *starting*, which the runtime has
        just found shut off) are given back; saved VF configs that no remaining claim
        covers are restored. Failures are warned about and retried next time.
        """
        for claim in list(self.state.claims()):
            if claim.domain == starting or not busy(claim.domain):
                self.warn(f"PCI device {claim.device} was left held for domain "
                          f"'{claim.domain}' by a pyvirt or QEMU that stopped early; "
                          "restoring it")
                self.undo_quietly(claim)
        covered = {c.net for c in self.state.claims() if c.net is not None}
        for saved in self.state.saved_vfs():
            if (saved.pf, saved.vf) not in covered:
                try:
                    self.restore(saved)
                except (PyvirtError, OSError) as err:
                    self.warn(f"could not restore VF {saved.vf} of {saved.pf}: {err}")
