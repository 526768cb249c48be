"""Tap NICs (``type='bridge'``, ``type='ethernet'`` and ``type='direct'``, a macvtap):
the pure rules libvirt 9.0
applies to them, shared by the define pipeline, the command builder and the host code
that creates the taps (``pyvirt.host.taps``).

* reserved names: a ``<target dev>`` starting with ``vnet``, ``macvtap`` or ``macvlan``
  is dropped from an inactive definition unless ``managed='no'`` (it is generated);
* ``managed='no'`` is only valid for ``type='ethernet'``;
* ``IFF_VNET_HDR`` by model, vhost-net by domain type, model and ``<driver name>``;
* the host-side MAC: the guest's with the first byte ``0xFE`` (``0xFA`` when the
  guest's already starts with ``0xFE``);
* the fixed fd plan goldens and ``domxml-to-native`` use (libvirt's test mocks: tap fds
  from 3, vhost fds from 44).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pyvirt.domain.model import (
    DirectSource,
    Domain,
    DomainType,
    Interface,
    InterfaceType,
    MacvtapMode,
)
from pyvirt.errors import ConfigUnsupportedError, ParseError
from pyvirt.qemu.aliases import assign_aliases
from pyvirt.qemu.machine import DEFAULT_NIC_MODEL, VIRTIO_MODELS
from pyvirt.types import MacAddress

#: NIC types whose host side is a tap (or macvtap) pyvirt creates (or, unmanaged, opens)
#: itself and hands to QEMU as descriptors.
TAP_TYPES = frozenset({InterfaceType.BRIDGE, InterfaceType.ETHERNET, InterfaceType.DIRECT})
#: Name prefixes libvirt reserves for the devices it names itself.
RESERVED_PREFIXES = ("vnet", "macvtap", "macvlan")
#: Models whose tap gets ``IFF_VNET_HDR`` (libvirt 9.0: virtio, e1000e, vmxnet3; igb
#: joined in 9.3).
VNET_HDR_MODELS = VIRTIO_MODELS | {"e1000e", "vmxnet3", "igb"}
#: Linux's IFNAMSIZ less the NUL.
MAX_IFNAME = 15
FIRST_TAP_FD = 3
FIRST_VHOST_FD = 44


@dataclass(frozen=True)
class NicFds:
    """The descriptors of one tap NIC as QEMU inherits them: one tap fd per queue and,
    when ``/dev/vhost-net`` opened, one vhost fd per queue (else none)."""

    tap: tuple[int, ...]
    vhost: tuple[int, ...] = ()


def is_tap(iface: Interface) -> bool:
    return iface.type in TAP_TYPES


def unmanaged(iface: Interface) -> bool:
    """``<target dev='X' managed='no'/>``: an existing tap pyvirt opens, never makes."""
    return iface.target_managed is False


def model_of(iface: Interface) -> str:
    return iface.model or DEFAULT_NIC_MODEL


def vnet_hdr(iface: Interface) -> bool:
    return model_of(iface) in VNET_HDR_MODELS


def queue_count(iface: Interface) -> int:
    return iface.driver.queues if iface.driver and iface.driver.queues else 1


def vhost_wanted(domain: Domain, iface: Interface) -> bool:
    """Whether libvirt would open ``/dev/vhost-net`` for *iface*: a tap NIC of a KVM
    domain, virtio model, ``<driver name>`` not ``qemu``."""
    name = iface.driver.name if iface.driver else None
    return is_tap(iface) and domain.type is DomainType.KVM \
        and model_of(iface) in VIRTIO_MODELS and name != "qemu"


def vhost_required(iface: Interface) -> bool:
    """``<driver name='vhost'/>``: no userspace fallback."""
    return iface.driver is not None and iface.driver.name == "vhost"


def host_mac(mac: MacAddress) -> MacAddress:
    """The tap's own MAC (libvirt's ``VIR_MAC_PREFIX``-free rule): the guest's with its
    first byte 0xFE (0xFA when the guest's starts with 0xFE), so a Linux bridge never
    takes the tap's address for its own."""
    first = 0xFA if mac.value.startswith("fe:") else 0xFE
    return MacAddress(f"{first:02x}{mac.value[2:]}")


def reserved_name(name: str | None) -> bool:
    return name is not None and name.startswith(RESERVED_PREFIXES)


def strip_reserved_names(domain: Domain) -> Domain:
    """*domain* (an inactive definition) without the generated tap names libvirt drops
    at parse time: a ``<target dev>`` with a reserved prefix, unless ``managed='no'``."""
    nics = domain.devices.interfaces
    kept = tuple(replace(n, target_dev=None) if reserved_name(n.target_dev)
                 and not unmanaged(n) else n for n in nics)
    if all(a is b for a, b in zip(kept, nics, strict=True)):
        return domain
    return replace(domain, devices=replace(domain.devices, interfaces=kept))


def default_direct_mode(domain: Domain) -> Domain:
    """*domain* with ``mode='vepa'`` on every ``type='direct'`` source without a mode
    (libvirt's default, which its formatter writes out)."""
    nics = domain.devices.interfaces
    kept = tuple(replace(n, source=replace(n.source, mode=MacvtapMode.VEPA))
                 if isinstance(n.source, DirectSource) and n.source.mode is None else n
                 for n in nics)
    if all(a is b for a, b in zip(kept, nics, strict=True)):
        return domain
    return replace(domain, devices=replace(domain.devices, interfaces=kept))


def validate_tap_nics(domain: Domain) -> None:
    """libvirt's validation of what only tap NICs may say.

    :raises ConfigUnsupportedError: in libvirt's words.
    """
    for iface in domain.devices.interfaces:
        if unmanaged(iface) and iface.type is not InterfaceType.ETHERNET:
            raise ConfigUnsupportedError("unmanaged target dev is not supported on "
                                         f"interfaces of type '{iface.type.value}'")
        if isinstance(iface.source, DirectSource):
            if not iface.source.dev:
                raise ParseError("interface type='direct' requires a 'source' element")
            if iface.mtu is not None:
                raise ConfigUnsupportedError("setting MTU on interface type direct is not "
                                             "supported yet")
        if vhost_required(iface) and model_of(iface) not in VIRTIO_MODELS:
            raise ConfigUnsupportedError("vhost-net is only supported for virtio network "
                                         "interfaces")


def fixed_fd_plan(domain: Domain) -> dict[str, NicFds]:
    """An fd plan with libvirt's test numbers (tap fds from 3, vhost fds from 44, in
    interface order), as if every tap opened and vhost-net was available: what golden
    tests and ``domxml-to-native`` show in place of the descriptors a start opens."""
    plan: dict[str, NicFds] = {}
    tap, vhost = FIRST_TAP_FD, FIRST_VHOST_FD
    for iface in assign_aliases(domain).devices.interfaces:
        if not is_tap(iface) or iface.alias is None:
            continue
        n = queue_count(iface)
        taps = tuple(range(tap, tap + n))
        tap += n
        vhosts: tuple[int, ...] = ()
        if vhost_wanted(domain, iface):
            vhosts = tuple(range(vhost, vhost + n))
            vhost += n
        plan[iface.alias] = NicFds(taps, vhosts)
    return plan
