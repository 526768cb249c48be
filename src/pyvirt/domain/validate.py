"""Hypervisor-independent validation: aliases and the teaming pairing rules.

libvirt checks each ``<teaming>`` element on its own and never cross-checks the pair
(reference B.x, gaps G1-G7). pyvirt checks the pair as a whole, because a dangling or
doubled pairing only shows up much later, inside the guest, as a NIC that never bonds.
"""

from __future__ import annotations

from collections import Counter

from pyvirt.domain.model import Domain, PersistentTeaming
from pyvirt.domain.teams import describe, interfaces_by_alias, team_pairs, transient_members
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.types import check_user_alias, is_user_alias


def validate_aliases(domain: Domain) -> None:
    """Every alias of an inactive definition is a valid user alias, and unique.

    :raises ConfigUnsupportedError: naming the first offending alias.
    """
    seen: Counter[str] = Counter()
    for alias, _dev in domain.aliased_devices():
        check_user_alias(alias)
        seen[alias] += 1
        if seen[alias] > 1:
            raise ConfigUnsupportedError(f"non unique alias detected: {alias}")


def validate_teaming(domain: Domain) -> None:
    """The pairing rules libvirt lacks (G1-G3, G6, self-pairing).

    :raises ConfigUnsupportedError: naming the members involved.
    """
    for member, teaming in transient_members(domain):
        if not is_user_alias(teaming.persistent):
            raise ConfigUnsupportedError(
                f"teaming persistent='{teaming.persistent}' of {describe(member)} is not a "
                "valid user alias: it must match '^ua-[A-Za-z0-9_-]+$'")
        if member.alias == teaming.persistent:
            raise ConfigUnsupportedError(
                f"{describe(member)} cannot be its own teaming partner")
    by_alias = interfaces_by_alias(domain)
    all_aliases = {alias for alias, _dev in domain.aliased_devices()}
    partners: dict[str, str] = {}
    for pair in team_pairs(domain):
        who, target = describe(pair.transient), pair.partner_alias
        if pair.persistent is None:
            if target in all_aliases and target not in by_alias:
                raise ConfigUnsupportedError(
                    f"teaming transient {who} names '{target}' as its persistent partner, "
                    f"but '{target}' is not an <interface>")
            raise ConfigUnsupportedError(
                f"teaming transient {who} names '{target}' as its persistent partner, but "
                f"no interface has <alias name='{target}'/>")
        if not isinstance(pair.persistent.teaming, PersistentTeaming):
            raise ConfigUnsupportedError(
                f"teaming transient {who} names '{target}' as its persistent partner, but "
                f"interface '{target}' lacks <teaming type='persistent'/>")
        if target in partners:
            raise ConfigUnsupportedError(
                f"teaming persistent interface '{target}' has more than one transient "
                f"partner: {partners[target]} and {who}")
        partners[target] = who


def validate_domain(domain: Domain) -> None:
    """Run every hypervisor-independent check on an inactive definition.

    :raises ConfigUnsupportedError: for the first rule broken.
    """
    validate_aliases(domain)
    validate_teaming(domain)
