"""The migration gate (pure): may this domain migrate, and what should happen on the way.

libvirt exempts a PCI hostdev from the "hostdevs block migration" rule when its teaming
type is transient, whether or not its partner exists (gaps G1/G2). pyvirt exempts only
the transient member of a *valid* pair: QEMU unplugs a primary only when its standby
names it, so any other hostdev would still block (or break) the migration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyvirt.domain.model import Domain, InterfaceType, PciHostdev, PersistentTeaming
from pyvirt.domain.teams import team_pairs
from pyvirt.errors import MigrationNotAllowedError, OperationInvalidError
from pyvirt.qemu.machine import VIRTIO_MODELS
from pyvirt.runtime.failover import PairStatus
from pyvirt.runtime.state import DomainState


@dataclass(frozen=True)
class MigrationPlan:
    """What the source should expect: which primaries QEMU will unplug (and wait for)."""

    unplug: tuple[str, ...]  # transient device ids the guest must release (wait-unplug)
    hidden: tuple[str, ...]  # transient ids that stay hidden: the guest never negotiated
    notes: tuple[str, ...]


def _valid_transients(domain: Domain) -> set[int]:
    """ids() of transient members whose partner is a persistent virtio interface."""
    valid = set()
    for pair in team_pairs(domain):
        partner = pair.persistent
        if partner is not None and isinstance(partner.teaming, PersistentTeaming) \
                and (partner.model or "") in VIRTIO_MODELS:
            valid.add(id(pair.transient))
    return valid


def check_hostdevs(domain: Domain) -> None:
    """:raises MigrationNotAllowedError: with libvirt's message for a blocking hostdev."""
    valid = _valid_transients(domain)
    for iface in domain.devices.interfaces:
        if iface.type is InterfaceType.HOSTDEV and id(iface) not in valid:
            raise MigrationNotAllowedError(
                "cannot migrate a domain with <interface type='hostdev'>")
    for dev in domain.devices.hostdevs:
        if isinstance(dev, PciHostdev) and id(dev) not in valid:
            raise MigrationNotAllowedError(
                "cannot migrate a domain with <hostdev mode='subsystem' type='pci'>")


def plan_migration(live: Domain, state: DomainState, pairs: Sequence[PairStatus]) -> MigrationPlan:
    """Decide whether *live* (a running domain) may migrate now.

    :raises MigrationNotAllowedError: for hostdevs that are not valid transient members.
    :raises OperationInvalidError: for a paused guest whose primary is plugged (QEMU
        would wait in ``wait-unplug`` forever, since a paused guest cannot eject it).
    """
    if not state.active:
        raise OperationInvalidError("domain is not running")
    check_hostdevs(live)
    plugged = tuple(p.transient for p in pairs if p.plugged)
    if state is DomainState.PAUSED and plugged:
        raise OperationInvalidError(
            f"cannot migrate paused domain '{live.name}': its teaming primary "
            f"'{plugged[0]}' is plugged and a paused guest cannot release it (QEMU would "
            "wait in wait-unplug forever); resume the domain first")
    hidden = tuple(p.transient for p in pairs if not p.negotiated)
    notes = tuple(
        f"the guest never negotiated failover on '{p.persistent}': primary '{p.transient}' "
        "stays hidden, on the destination too" for p in pairs if not p.negotiated)
    return MigrationPlan(plugged, hidden, notes)
