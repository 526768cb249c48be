"""Hypervisor-independent defaults filled in on define (pure; randomness injected).

The teaming MAC rule lives here: the guest's net_failover driver pairs the two members
by identical MAC, and libvirt leaves copying it to the user (gaps G4/G5). pyvirt copies
the persistent member's MAC to a transient member that has none.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar, cast

from pyvirt.domain.model import (
    Domain,
    Interface,
    LifecycleAction,
    TransientTeaming,
    Vcpu,
)
from pyvirt.domain.teams import describe
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.types import MacAddress

MacFactory = Callable[[], MacAddress]
T = TypeVar("T")

# Aliases libvirt generates at start time. Such an alias in an inactive definition comes
# from a copied live XML; libvirt drops it on define and so does pyvirt. Any other
# non-"ua-" alias is an error (see validate_aliases).
_AUTO_ALIAS = re.compile(
    r"^(net|hostdev|virtio-disk|serial|console|input|video|rng|sound|balloon|scsi|usb|ide)"
    r"\d*$|^sata\d+$|^(pci|pcie)\.\d+$|^(sata|ide)\d+-\d+-\d+$|^scsi\d+-\d+-\d+-\d+$|^usb\d*$")


def mac_factory(random_bytes: Callable[[int], bytes]) -> MacFactory:
    """A generator of ``52:54:00:xx:xx:xx`` MACs drawing from *random_bytes*."""

    def new_mac() -> MacAddress:
        return MacAddress.from_bytes(b"\x52\x54\x00" + random_bytes(3))

    return new_mac


def is_auto_alias(alias: str) -> bool:
    return bool(_AUTO_ALIAS.match(alias))


def _without_auto_alias(dev: T) -> T:
    alias = getattr(dev, "alias", None)
    if isinstance(alias, str) and is_auto_alias(alias):
        return cast(T, replace(cast(Any, dev), alias=None))
    return dev


def strip_auto_aliases(domain: Domain) -> Domain:
    """Drop runtime-generated aliases (``net0``, ``pci.1`` ...) from a definition."""
    d = domain.devices

    def strip(devs: tuple[T, ...]) -> tuple[T, ...]:
        return tuple(_without_auto_alias(dev) for dev in devs)

    return replace(domain, devices=replace(
        d, disks=strip(d.disks), controllers=strip(d.controllers),
        interfaces=strip(d.interfaces), serials=strip(d.serials), consoles=strip(d.consoles),
        inputs=strip(d.inputs), videos=strip(d.videos), hostdevs=strip(d.hostdevs),
        rngs=strip(d.rngs),
        memballoon=_without_auto_alias(d.memballoon) if d.memballoon else None))


def _team_macs(interfaces: tuple[Interface, ...], new_mac: MacFactory) -> list[Interface]:
    """Give both members of every interface pair the same MAC (see module doc).

    :raises ConfigUnsupportedError: when the pair has two different explicit MACs.
    """
    result = list(interfaces)
    by_alias = _indexes_by_alias(result)
    for i, member in enumerate(result):
        if not isinstance(member.teaming, TransientTeaming):
            continue
        partners = by_alias.get(member.teaming.persistent, [])
        if len(partners) != 1:
            continue  # validation reports a missing or ambiguous partner
        j = partners[0]
        partner = result[j]
        if member.mac and partner.mac and member.mac != partner.mac:
            raise ConfigUnsupportedError(
                f"MAC address of transient {describe(member, i)} ({member.mac}) differs from "
                f"its persistent partner '{partner.alias}' ({partner.mac}): the guest pairs "
                "failover members by MAC; remove the transient member's <mac> to inherit it")
        mac = member.mac or partner.mac or new_mac()
        result[i] = replace(member, mac=mac)
        result[j] = replace(partner, mac=mac)
    return result


def _indexes_by_alias(interfaces: list[Interface]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for i, iface in enumerate(interfaces):
        if iface.alias:
            found.setdefault(iface.alias, []).append(i)
    return found


def assign_macs(domain: Domain, new_mac: MacFactory) -> Domain:
    """Teaming MAC inheritance, then a fresh MAC for every other NIC without one.

    :raises ConfigUnsupportedError: for a pair with two different explicit MACs.
    """
    interfaces = _team_macs(domain.devices.interfaces, new_mac)
    interfaces = [i if i.mac else replace(i, mac=new_mac()) for i in interfaces]
    return replace(domain, devices=replace(domain.devices, interfaces=tuple(interfaces)))


def apply_defaults(domain: Domain, new_mac: MacFactory) -> Domain:
    """What libvirt's generic post-parse fills in, plus the teaming MAC rule.

    :raises ConfigUnsupportedError: for a teaming pair with conflicting MACs.
    """
    vcpu = domain.vcpu
    os = domain.os
    domain = replace(
        domain,
        current_memory=domain.current_memory or domain.memory,
        vcpu=vcpu if vcpu.placement else Vcpu(vcpu.count, "static", vcpu.current),
        os=os if os.arch else replace(os, arch="x86_64"),
        on_poweroff=domain.on_poweroff or LifecycleAction.DESTROY,
        on_reboot=domain.on_reboot or LifecycleAction.RESTART,
        on_crash=domain.on_crash or LifecycleAction.DESTROY,
    )
    if domain.os.machine is None:
        domain = replace(domain, os=replace(domain.os, machine="pc"))
    return assign_macs(domain, new_mac)


