"""Resolve teaming pairs: which transient member points at which persistent NIC.

Pure helpers shared by validation, defaults, the command builder, the migration gate and
the runtime's failover status.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pyvirt.domain.model import (
    Domain,
    Interface,
    PciHostdev,
    PersistentTeaming,
    TransientTeaming,
)

TransientMember = Interface | PciHostdev


@dataclass(frozen=True)
class TeamPair:
    """A resolved pair: ``persistent`` is None when the alias names no interface."""

    transient: TransientMember
    persistent: Interface | None
    partner_alias: str


def describe(dev: TransientMember | Interface, index: int | None = None) -> str:
    """A short human name for a member, for error messages: alias, else host address,
    else its position among the interfaces (1-based), else its MAC."""
    kind = "interface" if isinstance(dev, Interface) else "hostdev"
    if dev.alias:
        return f"{kind} '{dev.alias}'"
    if isinstance(dev, PciHostdev):
        return f"{kind} {dev.source.host_string}"
    if dev.vf is not None:
        return f"{kind} {dev.vf.host_string}"
    if index is not None:  # the members of a pair share their MAC: it names neither
        return f"{kind} #{index + 1}"
    if dev.mac is not None:
        return f"{kind} with MAC {dev.mac}"
    return kind


def transient_members(domain: Domain) -> Iterator[tuple[TransientMember, TransientTeaming]]:
    """Every transient member in document order: interfaces first, then hostdevs."""
    for iface in domain.devices.interfaces:
        if isinstance(iface.teaming, TransientTeaming):
            yield iface, iface.teaming
    for dev in domain.devices.hostdevs:
        if isinstance(dev, PciHostdev) and dev.teaming is not None:
            yield dev, dev.teaming


def persistent_members(domain: Domain) -> Iterator[Interface]:
    for iface in domain.devices.interfaces:
        if isinstance(iface.teaming, PersistentTeaming):
            yield iface


def interfaces_by_alias(domain: Domain) -> dict[str, list[Interface]]:
    found: dict[str, list[Interface]] = {}
    for iface in domain.devices.interfaces:
        if iface.alias:
            found.setdefault(iface.alias, []).append(iface)
    return found


def team_pairs(domain: Domain) -> tuple[TeamPair, ...]:
    """Each transient member with the interface its ``persistent=`` names (if unique)."""
    by_alias = interfaces_by_alias(domain)
    pairs = []
    for member, teaming in transient_members(domain):
        candidates = by_alias.get(teaming.persistent, [])
        partner = candidates[0] if len(candidates) == 1 else None
        pairs.append(TeamPair(member, partner, teaming.persistent))
    return tuple(pairs)
