"""Which host PCI devices a domain needs, and what to program into them (pure).

* ``<interface type='hostdev'>``: the VF at ``<source><address>``; its admin MAC becomes
  the interface's MAC (a transient member's is inherited from its persistent partner
  at define) and its VLAN the ``<vlan><tag>``, or none.
* ``<hostdev>``: the device only; a transient member's VF MAC is checked against the
  partner's, since nothing programs it (libvirt D.6).
* ``<interface type='network'>``: a request to the host's hostdev pools; an allocated
  VF turns it into a hostdev interface in the live definition (:func:`pool_interface`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pyvirt.domain.model import (
    Domain,
    Hostdev,
    HostdevSource,
    Interface,
    NetworkSource,
    PciHostdev,
    PersistentTeaming,
    TransientTeaming,
    Vlan,
)
from pyvirt.domain.teams import describe, team_pairs
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.types import MacAddress, PciAddress

VLAN_TRUNK_UNSUPPORTED = "vlan trunking is not supported by SR-IOV network devices"


@dataclass(frozen=True)
class VfProgram:
    """What to set on a VF through its PF. ``vlan`` None: no ``<vlan>``, so the VF's
    VLAN is cleared, and a PF that refuses the clear (EPERM) is tolerated."""

    mac: MacAddress | None
    vlan: int | None


@dataclass(frozen=True)
class Assignment:
    """One PCI device a domain will hold while it runs."""

    device: PciAddress
    managed: bool
    who: str  # the member, for messages
    program: VfProgram | None = None  # interface-backed: admin MAC and VLAN to set
    partner_mac: MacAddress | None = None  # plain transient <hostdev>: MAC to check
    pool: str | None = None
    where: tuple[str, int] = ("", -1)  # ("interfaces" | "hostdevs", index in the domain)


@dataclass(frozen=True)
class PoolRequest:
    """An ``<interface type='network'>`` (at ``index``) that may take a VF from a pool."""

    index: int
    network: str
    transient: bool
    who: str
    persistent: bool = False  # the persistent member of a pair (must not get a VF)


def vlan_tag(vlan: Vlan | None) -> int | None:
    """The one tag a VF can carry. :raises ConfigUnsupportedError: for trunks."""
    if vlan is None:
        return None
    if vlan.trunk or len(vlan.tags) != 1:
        raise ConfigUnsupportedError(VLAN_TRUNK_UNSUPPORTED)
    return vlan.tags[0].id


def _partner_macs(domain: Domain) -> dict[int, MacAddress | None]:
    """id(transient member) → its persistent partner's MAC."""
    return {id(p.transient): p.persistent.mac if p.persistent else None
            for p in team_pairs(domain)}


def plan_devices(domain: Domain) -> tuple[list[Assignment], list[PoolRequest]]:
    """The fixed devices of *domain* and its pool requests, in document order.

    :raises ConfigUnsupportedError: for a VLAN trunk on a hostdev interface.
    """
    partners = _partner_macs(domain)
    fixed: list[Assignment] = []
    pools: list[PoolRequest] = []
    for i, iface in enumerate(domain.devices.interfaces):
        who = describe(iface, i)
        source = iface.source
        if isinstance(source, HostdevSource):
            mac = iface.mac or partners.get(id(iface))
            fixed.append(Assignment(source.address, source.managed is not False, who,
                                    VfProgram(mac, vlan_tag(iface.vlan)),
                                    where=("interfaces", i)))
        elif isinstance(source, NetworkSource) and source.network:
            pools.append(PoolRequest(i, source.network,
                                     isinstance(iface.teaming, TransientTeaming), who,
                                     isinstance(iface.teaming, PersistentTeaming)))
    for j, dev in enumerate(domain.devices.hostdevs):
        if isinstance(dev, PciHostdev):
            fixed.append(Assignment(dev.source, dev.managed is not False, describe(dev),
                                    partner_mac=partners.get(id(dev)),
                                    where=("hostdevs", j)))
    return fixed, pools


def pool_assignment(domain: Domain, req: PoolRequest, vf: PciAddress, managed: bool,
                    pool: str, pool_vlan: Vlan | None) -> Assignment:
    """The assignment of VF *vf* from *pool* to the interface of *req*.

    :raises ConfigUnsupportedError: for a VLAN trunk (the interface's or the pool's).
    """
    iface = domain.devices.interfaces[req.index]
    mac = iface.mac or _partner_macs(domain).get(id(iface))
    return Assignment(vf, managed, req.who, VfProgram(mac, vlan_tag(iface.vlan or pool_vlan)),
                      pool=pool, where=("interfaces", req.index))


def pool_interface(iface: Interface, vf: PciAddress, managed: bool,
                   pool_vlan: Vlan | None) -> Interface:
    """The live form of a pool interface: a hostdev interface on *vf* that keeps its MAC,
    teaming, boot order, ROM, alias and guest address (QEMU gets vfio-pci with
    ``failover_pair_id``); what only an emulated NIC has is dropped."""
    return replace(iface, source=HostdevSource(managed=managed, address=vf),
                   vlan=iface.vlan or pool_vlan,
                   target_dev=None, model=None, driver=None, link=None, mtu=None)


def with_device(domain: Domain, dev: Interface | Hostdev) -> tuple[Domain, tuple[str, int]]:
    """*domain* with *dev* appended (a hot-plug), and where it went."""
    d = domain.devices
    if isinstance(dev, Interface):
        where = ("interfaces", len(d.interfaces))
        devices = replace(d, interfaces=(*d.interfaces, dev))
    else:
        where = ("hostdevs", len(d.hostdevs))
        devices = replace(d, hostdevs=(*d.hostdevs, dev))
    return replace(domain, devices=devices), where


def device_at(domain: Domain, where: tuple[str, int]) -> Interface | Hostdev:
    kind, index = where
    return domain.devices.interfaces[index] if kind == "interfaces" \
        else domain.devices.hostdevs[index]


def with_interface(domain: Domain, index: int, iface: Interface) -> Domain:
    interfaces = list(domain.devices.interfaces)
    interfaces[index] = iface
    return replace(domain, devices=replace(domain.devices, interfaces=tuple(interfaces)))
