"""Hot-plug planning for QEMU (pure): ``attach-device`` against a live or stored domain.

A request goes through the define pipeline's own steps, on the definition it joins:
alias rules, the teaming rules (the transient member's partner must exist, be the
persistent virtio member and have no other partner), the MAC rule (a transient member
without ``<mac>`` inherits its partner's), the QEMU defaults (no option ROM on an
emulated primary), PCI placement and the QEMU checks. For a running guest, placement may
only use what the machine already has: a PCI Express device needs an empty
``pcie-root-port`` (the spare one define leaves), because root ports cannot be
hot-plugged. The stored definition is edited with the whole define pipeline, which may
add a port.

The QEMU properties of each plugged device come from the command builder itself
(``network_args``/``hostdev_args`` on a one-device view of the domain), so ``device_add``
and ``-device`` never disagree. Devices are plugged persistent member first (QEMU keeps a
primary hidden until the guest negotiates failover on its standby).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pyvirt.domain.defaults import MacFactory, assign_macs, is_auto_alias
from pyvirt.domain.device import Device, OtherDevice
from pyvirt.domain.devmatch import Found, device_at, is_transient_member
from pyvirt.domain.model import (
    ControllerType,
    Domain,
    Hostdev,
    Interface,
    InterfaceType,
    LinkState,
    PciModel,
    UsbHostdev,
)
from pyvirt.domain.teams import describe
from pyvirt.domain.validate import validate_teaming
from pyvirt.errors import ConfigUnsupportedError, OperationFailedError, OperationUnsupportedError
from pyvirt.qemu.aliases import assign_aliases
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.command import BuildEnv
from pyvirt.qemu.command.context import BuildContext
from pyvirt.qemu.command.devices_hostdev import hostdev_args
from pyvirt.qemu.command.devices_net import network_args
from pyvirt.qemu.command.props import Props
from pyvirt.qemu.define import prepare_definition
from pyvirt.qemu.machine import is_q35
from pyvirt.qemu.placement import assign_pci_addresses
from pyvirt.qemu.postparse import apply_qemu_defaults
from pyvirt.qemu.validate import validate_for_qemu
from pyvirt.types import PciAddress, check_user_alias

Member = Interface | Hostdev

# The builder's env only matters for the machine-wide options; device lines ignore it.
_DEVICE_ONLY_ENV = BuildEnv(qmp_socket=Path("/nonexistent"))


@dataclass(frozen=True)
class Plug:
    """One device to plug: its live form, ``netdev_add`` props (emulated NICs only) and
    ``device_add`` props; ``link_down`` asks for ``set_link`` right after the plug."""

    device: Member
    netdev: Props | None
    props: Props
    link_down: bool


@dataclass(frozen=True)
class AttachPlan:
    """Devices in plug order; ``config_devices`` are the same devices as the stored
    definition should get them (request aliases only, same MAC and address)."""

    base: Domain
    plugs: tuple[Plug, ...]
    config_devices: tuple[Member, ...]

    def live_after(self, count: int) -> Domain:
        """The live definition once the first *count* plugs are done."""
        return append(self.base, [p.device for p in self.plugs[:count]])[0]


def only_device(domain: Domain, dev: Member) -> Domain:
    """*domain* with *dev* as its only interface or host device (a one-device view)."""
    d = domain.devices
    if isinstance(dev, Interface):
        return replace(domain, devices=replace(d, interfaces=(dev,), hostdevs=()))
    return replace(domain, devices=replace(d, interfaces=(), hostdevs=(dev,)))


def _describe(dev: Member) -> str:
    return "USB hostdev" if isinstance(dev, UsbHostdev) else describe(dev)


def append(domain: Domain, devices: Sequence[Member]) -> tuple[Domain, list[Found]]:
    """*domain* with *devices* added at the end of their lists, and where they landed."""
    nics, devs = list(domain.devices.interfaces), list(domain.devices.hostdevs)
    where = []
    for dev in devices:
        if isinstance(dev, Interface):
            where.append(Found("interface", len(nics)))
            nics.append(dev)
        else:
            where.append(Found("hostdev", len(devs)))
            devs.append(dev)
    devices_ = replace(domain.devices, interfaces=tuple(nics), hostdevs=tuple(devs))
    return replace(domain, devices=devices_), where


def plug_order(devices: Sequence[Member]) -> list[Member]:
    """Persistent members and plain devices first, transient members last (stable)."""
    return sorted(devices, key=is_transient_member)


def requested_devices(devices: Sequence[Device], action: str) -> list[Member]:
    """The request's devices with define's alias rule: runtime-style aliases (``net3``)
    are dropped, any other alias must be a user alias.

    :raises OperationUnsupportedError: for a device kind pyvirt cannot hot-plug.
    :raises ConfigUnsupportedError: for an alias that is not a user alias.
    """
    result: list[Member] = []
    for dev in devices:
        if isinstance(dev, OtherDevice):
            raise OperationUnsupportedError(f"{action} of device '{dev.kind}' is not "
                                            "supported")
        if dev.alias and is_auto_alias(dev.alias):
            dev = replace(dev, alias=None)
        if dev.alias:
            check_user_alias(dev.alias)
        result.append(dev)
    return result


def _check_unique_aliases(domain: Domain, new: Sequence[Member]) -> None:
    seen = {alias for alias, _dev in domain.aliased_devices()}
    for dev in new:
        if dev.alias and dev.alias in seen:
            raise ConfigUnsupportedError(f"non unique alias detected: {dev.alias}")
        if dev.alias:
            seen.add(dev.alias)


def _bus(dev: Member) -> int | None:
    addr = getattr(dev, "address", None)
    return addr.bus if isinstance(addr, PciAddress) else None


def _check_no_new_controllers(before: Domain, placed: Domain, where: list[Found]) -> None:
    """A running machine cannot grow root ports or bridges: refuse what would need one.

    :raises OperationFailedError: naming the device and what to do instead.
    """
    known = {c.index for c in before.devices.controllers if c.type is ControllerType.PCI}
    added = [c for c in placed.devices.controllers
             if c.type is ControllerType.PCI and c.index not in known]
    if not added:
        return
    buses = {c.index for c in added}
    dev = next((device_at(placed, f) for f in where
                if _bus(device_at(placed, f)) in buses), device_at(placed, where[0]))
    if any(c.model == PciModel.PCIE_TO_PCI_BRIDGE.value for c in added):
        raise OperationFailedError(
            f"no free hot-pluggable slot for {_describe(dev)}: a conventional PCI device "
            "needs a pcie-to-pci-bridge, which can only be added while the domain is shut "
            "off; use a PCI Express model (virtio, e1000e), or attach it with --config and "
            "restart the domain")
    raise OperationFailedError(
        f"no free pcie-root-port to hot-plug {_describe(dev)} into: a PCI Express device "
        "needs an empty pcie-root-port, and ports can only be added while the domain is "
        "shut off; detach a device first, or attach it with --config (pyvirt adds a port "
        "to the stored definition) and restart the domain")


def _check_hotpluggable_bus(domain: Domain, devices: Sequence[Member]) -> None:
    """:raises OperationFailedError: for an explicit address on q35's root bus."""
    if not is_q35(domain.os.machine):
        return
    for dev in devices:
        addr = getattr(dev, "address", None)
        if isinstance(addr, PciAddress) and addr.bus == 0:
            raise OperationFailedError(
                f"cannot hot-plug {_describe(dev)} at {addr}: the PCI Express root bus "
                "(pcie.0) does not support hot-plug; leave out <address> to let pyvirt "
                "pick a free pcie-root-port")


def _plug(named: Domain, caps: QemuCaps, dev: Member) -> Plug:
    """The builder's own ``-netdev``/``-device`` values for *dev*, as QMP arguments.

    :raises ConfigUnsupportedError: for what the builder cannot run.
    """
    ctx = BuildContext(only_device(named, dev), caps, _DEVICE_ONLY_ENV)
    emulated = isinstance(dev, Interface) and dev.type is not InterfaceType.HOSTDEV
    args = network_args(ctx) if emulated else hostdev_args(ctx)
    values: list[Props] = [json.loads(a) for a in args[1::2]]
    link_down = isinstance(dev, Interface) and dev.link is LinkState.DOWN
    if emulated:
        return Plug(dev, values[0], values[1], link_down)
    return Plug(dev, None, values[0], link_down)


def plan_live_attach(live: Domain, devices: Sequence[Device], caps: QemuCaps,
                     new_mac: MacFactory) -> AttachPlan:
    """Check *devices* against the running guest's definition and plan their plugging.

    :raises PyvirtError: for the first rule broken (alias, teaming pair, MAC, placement,
        QEMU capability), with define's message where define has one.
    """
    new = plug_order(requested_devices(devices, "live attach"))
    _check_unique_aliases(live, new)
    _check_hotpluggable_bus(live, new)
    candidate, where = append(live, new)
    validate_teaming(candidate)
    candidate = apply_qemu_defaults(assign_macs(candidate, new_mac))
    placed = assign_pci_addresses(candidate)
    _check_no_new_controllers(candidate, placed, where)
    named = assign_aliases(placed)
    validate_for_qemu(named, caps)
    plugs = tuple(_plug(named, caps, device_at(named, f)) for f in where)
    config = tuple(device_at(placed, f) for f in where)
    return AttachPlan(live, plugs, config)


def _address_free(domain: Domain, addr: object) -> bool:
    """True when the stored definition can take a device at the live address *addr*."""
    if not isinstance(addr, PciAddress):
        return False
    d = domain.devices
    devices: list[object] = [*d.controllers, *d.interfaces, *d.disks, *d.hostdevs, *d.rngs,
                             *d.inputs, d.memballoon]
    used = [a for a in (getattr(x, "address", None) for x in devices)
            if isinstance(a, PciAddress)]
    if addr.bus == 0:
        return not any(a.bus == 0 and (a.slot, a.function) == (addr.slot, addr.function)
                       for a in used)
    has_bus = any(c.type is ControllerType.PCI and c.index == addr.bus for c in d.controllers)
    return has_bus and not any(a.bus == addr.bus for a in used)


def plan_config_attach(stored: Domain, devices: Sequence[Device], caps: QemuCaps | None,
                       new_mac: MacFactory, live_plan: AttachPlan | None = None) -> Domain:
    """The stored definition with *devices* added, through the whole define pipeline.

    With *live_plan* (``--live --config``) the stored devices are the live ones: same
    MAC, and the same PCI address when the stored definition has it free.

    :raises PyvirtError: for the first rule broken, as ``define`` would report it.
    """
    if live_plan is None:
        new = plug_order(requested_devices(devices, "persistent attach"))
    else:
        new = [dev if isinstance(dev, UsbHostdev) or _address_free(stored, dev.address)
               else replace(dev, address=None) for dev in live_plan.config_devices]
    candidate, _where = append(stored, new)
    return prepare_definition(candidate, caps, new_mac)
