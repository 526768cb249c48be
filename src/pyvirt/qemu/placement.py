"""libvirt's PCI address assignment for q35 and i440fx (pure).

q35: every PCI Express endpoint without an address gets its own ``pcie-root-port``
(slot 0 of that port); root ports are packed as functions 0-7 of consecutive slots on
``pcie.0`` starting at slot 1, with ``chassis`` = controller index and ``port`` =
slot*8+function. A new domain whose root ports were all added here gets one spare port,
so one device can be hot-plugged later. Conventional PCI devices go behind an added
``pcie-to-pci-bridge``. i440fx: first free slot on bus 0 from slot 2 (slot 1 holds the
PIIX3 IDE and USB functions). Devices are handled in libvirt's category order (reference
C.3); explicit addresses are kept and reserved first.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pyvirt.domain.model import (
    Controller,
    ControllerType,
    DiskBus,
    Domain,
    InputBus,
    InterfaceType,
    PciHostdev,
    PciModel,
)
from pyvirt.errors import ConfigUnsupportedError, ParseError
from pyvirt.qemu.machine import PCIE_NIC_MODELS, is_i440fx, is_pool_member, is_q35
from pyvirt.qemu.postparse import insert_controller
from pyvirt.types import PciAddress

_LISTS = ("controllers", "interfaces", "disks", "hostdevs", "rngs", "inputs", "videos")
_PCIE_CONTROLLER_MODELS = frozenset({"qemu-xhci", "nec-xhci", "virtio-scsi"})
_Q35_RESERVED_SLOTS = frozenset({0, 0x1F})
_PLACED_CONTROLLERS = (ControllerType.USB, ControllerType.SCSI, ControllerType.VIRTIO_SERIAL)


@dataclass
class _Request:
    """One device that needs a PCI address: where it lives and whether it is PCIe."""

    where: str  # a Devices field name, or "memballoon"
    index: int
    pcie: bool


@dataclass
class _State:
    devices: dict[str, list[Any]]
    balloon: Any
    used: set[tuple[int, int, int]] = field(default_factory=set)


def _requests(domain: Domain) -> list[_Request]:
    """Devices without an address, in libvirt's category order."""
    d = domain.devices
    reqs: list[_Request] = []  # PCI controllers themselves: see _address_root_ports
    for i, nic in enumerate(d.interfaces):
        if nic.type is not InterfaceType.HOSTDEV and nic.address is None:
            pcie = (nic.model or "") in PCIE_NIC_MODELS or is_pool_member(nic)
            reqs.append(_Request("interfaces", i, pcie))
    for i, ctl in enumerate(d.controllers):
        if ctl.address is None and ctl.type in _PLACED_CONTROLLERS and ctl.model != "none":
            pcie = ctl.type is ControllerType.VIRTIO_SERIAL \
                or (ctl.model or "") in _PCIE_CONTROLLER_MODELS
            reqs.append(_Request("controllers", i, pcie))
    for i, disk in enumerate(d.disks):
        if disk.target_bus is DiskBus.VIRTIO and disk.address is None:
            reqs.append(_Request("disks", i, True))
    for i, nic in enumerate(d.interfaces):
        if nic.type is InterfaceType.HOSTDEV and nic.address is None:
            reqs.append(_Request("interfaces", i, True))
    for i, dev in enumerate(d.hostdevs):
        if isinstance(dev, PciHostdev) and dev.address is None:
            reqs.append(_Request("hostdevs", i, True))
    if d.memballoon is not None and d.memballoon.model == "virtio" \
            and d.memballoon.address is None:
        reqs.append(_Request("memballoon", 0, True))
    reqs += [_Request("rngs", i, True) for i, r in enumerate(d.rngs) if r.address is None]
    reqs += [_Request("videos", i, True) for i, v in enumerate(d.videos)
             if i > 0 and v.model != "none" and v.address is None]
    reqs += [_Request("inputs", i, True) for i, inp in enumerate(d.inputs)
             if inp.bus is InputBus.VIRTIO and inp.address is None]
    return reqs


def _mark_explicit(domain: Domain, state: _State) -> None:
    """Reserve every explicit address. :raises ParseError: for one used twice."""
    d = domain.devices
    addressed: list[Any] = [*d.controllers, *d.interfaces, *d.disks, *d.hostdevs, *d.rngs,
                            *d.inputs, *d.videos, d.memballoon]
    for dev in addressed:
        addr = getattr(dev, "address", None)
        if isinstance(addr, PciAddress):
            key = (addr.bus, addr.slot, addr.function)
            if key in state.used:
                raise ParseError(
                    f"Attempted double use of PCI Address {addr.without_multifunction()}")
            state.used.add(key)


def _set_address(state: _State, req: _Request, addr: PciAddress) -> None:
    state.used.add((addr.bus, addr.slot, addr.function))
    if req.where == "memballoon":
        state.balloon = replace(state.balloon, address=addr)
    else:
        items = state.devices[req.where]
        items[req.index] = replace(items[req.index], address=addr)


def _free_root_slot(state: _State, reserved: frozenset[int]) -> tuple[int, int]:
    for slot in range(1, 32):
        if slot in reserved:
            continue
        for fn in range(8):
            if (0, slot, fn) not in state.used:
                return slot, fn
    raise ConfigUnsupportedError("No more available PCI slots")


def _place_q35(domain: Domain, reqs: list[_Request], state: _State) -> list[Controller]:
    controllers: list[Controller] = state.devices["controllers"]
    ports = [c for c in controllers if c.model == PciModel.PCIE_ROOT_PORT.value]
    had_ports = bool(ports)
    busy = {bus for bus, _slot, _fn in state.used if bus != 0}
    free_ports = [c.index for c in ports if c.index not in busy]
    known = {c.index for c in controllers if c.type is ControllerType.PCI}
    new_ports: list[Controller] = [  # buses that explicit addresses name get their port
        Controller(ControllerType.PCI, bus, model="pcie-root-port",
                   model_name="pcie-root-port") for bus in sorted(busy - known)]
    taken = known | busy
    next_index = 1
    bridge = next((c for c in controllers if c.model == PciModel.PCIE_TO_PCI_BRIDGE.value),
                  None)

    def new_index() -> int:
        nonlocal next_index
        while next_index in taken:
            next_index += 1
        taken.add(next_index)
        return next_index

    def take_port() -> int:
        if free_ports:
            return free_ports.pop(0)
        port = Controller(ControllerType.PCI, new_index(), model="pcie-root-port",
                          model_name="pcie-root-port")
        new_ports.append(port)
        return port.index

    legacy = [r for r in reqs if not r.pcie and r.where != "controllers"]
    if legacy and bridge is None:
        port = take_port()  # first, as libvirt: the port gets the lower index (it is the
        bridge = Controller(ControllerType.PCI, new_index(),  # bridge's parent bus)
                            model="pcie-to-pci-bridge", model_name="pcie-pci-bridge",
                            address=PciAddress(0, port, 0, 0))
        state.used.add((bridge.address.bus, 0, 0))  # type: ignore[union-attr]
        new_ports.append(bridge)
    for req in reqs:
        if req.pcie:
            _set_address(state, req, PciAddress(0, take_port(), 0, 0))
        elif bridge is not None:
            slot = next((s for s in range(1, 32) if (bridge.index, s, 0) not in state.used),
                        None)
            if slot is None:
                raise ConfigUnsupportedError("No more available PCI slots")
            _set_address(state, req, PciAddress(0, bridge.index, slot, 0))
    if not had_ports and any(p.model == "pcie-root-port" for p in new_ports):
        take_port()  # the spare, for hot-plug
    return sorted(new_ports, key=lambda c: c.index)


def _address_root_ports(state: _State, new: list[Controller]) -> list[Controller]:
    """Give new root ports their pcie.0 slot/function, chassis and port numbers."""
    placed = []
    for ctl in new:
        if ctl.model != "pcie-root-port":
            placed.append(ctl)
            continue
        slot, fn = _free_root_slot(state, _Q35_RESERVED_SLOTS)
        state.used.add((0, slot, fn))
        placed.append(replace(ctl, chassis=ctl.index, port=slot * 8 + fn,
                              address=PciAddress(0, 0, slot, fn)))
    slots: dict[int, int] = {}
    for ctl in placed:
        if isinstance(ctl.address, PciAddress) and ctl.address.bus == 0:
            slots[ctl.address.slot] = slots.get(ctl.address.slot, 0) + 1
    return [replace(c, address=replace(c.address, multifunction=True))
            if isinstance(c.address, PciAddress) and c.address.bus == 0
            and c.address.function == 0 and slots.get(c.address.slot, 0) > 1 else c
            for c in placed]


def _mark_multifunction(existing: list[Controller], auto: set[int],
                        new: list[Controller]) -> None:
    """Root ports of the definition that got their address here are multifunction at
    function 0 of a root-bus slot that other controllers share (as new ports are)."""
    functions: dict[int, int] = {}
    for ctl in (*existing, *new):
        if isinstance(ctl.address, PciAddress) and ctl.address.bus == 0:
            functions[ctl.address.slot] = functions.get(ctl.address.slot, 0) + 1
    for i in auto:
        addr = existing[i].address
        if isinstance(addr, PciAddress) and addr.function == 0 \
                and functions.get(addr.slot, 0) > 1:
            existing[i] = replace(existing[i], address=replace(addr, multifunction=True))


def _place_i440fx(reqs: list[_Request], state: _State) -> None:
    controllers = state.devices["controllers"]
    for i, ctl in enumerate(controllers):  # PIIX3 functions of slot 1
        fixed = {(ControllerType.IDE, 0): 1, (ControllerType.USB, 0): 2}.get(
            (ctl.type, ctl.index))
        if fixed and ctl.address is None and ctl.model in (None, "piix3-uhci"):
            controllers[i] = replace(ctl, address=PciAddress(0, 0, 1, fixed))
    reqs = [r for r in reqs if r.where != "controllers"
            or state.devices["controllers"][r.index].address is None]
    state.used.update({(0, 0, 0), (0, 1, 0), (0, 1, 1), (0, 1, 2), (0, 1, 3)})
    for req in reqs:
        slot = next((s for s in range(2, 32) if (0, s, 0) not in state.used), None)
        if slot is None:
            raise ConfigUnsupportedError("No more available PCI slots")
        _set_address(state, req, PciAddress(0, 0, slot, 0))


def _place_primary_video(domain: Domain, state: _State) -> None:
    """The first video sits on the root bus, in the slot libvirt keeps for it (q35: 1,
    i440fx: 2), which no other device shares."""
    videos = state.devices["videos"]
    if not videos or videos[0].model == "none" or videos[0].address is not None:
        return
    slot = 1 if is_q35(domain.os.machine) else 2 if is_i440fx(domain.os.machine) else None
    if slot is None or any((0, slot, fn) in state.used for fn in range(8)):
        return
    videos[0] = replace(videos[0], address=PciAddress(0, 0, slot, 0))
    state.used.update((0, slot, fn) for fn in range(8))


def assign_pci_addresses(domain: Domain) -> Domain:
    """Return *domain* with every PCI device addressed and root ports added.

    :raises ConfigUnsupportedError: when the machine runs out of slots.
    """
    d = domain.devices
    state = _State({name: list(getattr(d, name)) for name in _LISTS}, d.memballoon)
    _mark_explicit(domain, state)
    _place_primary_video(domain, state)
    reqs = _requests(domain)
    controllers: tuple[Controller, ...]
    if is_q35(domain.os.machine):
        existing = state.devices["controllers"]
        for i, ctl in enumerate(existing):
            if ctl.model == PciModel.PCIE_ROOT_PORT.value and ctl.model_name is None:
                existing[i] = replace(ctl, model_name="pcie-root-port")
        auto = {i for i, ctl in enumerate(existing)
                if ctl.model == PciModel.PCIE_ROOT_PORT.value and ctl.address is None}
        for i in sorted(auto):
            existing[i] = _address_root_ports(state, [existing[i]])[0]
        new = _address_root_ports(state, _place_q35(domain, reqs, state))
        _mark_multifunction(existing, auto, new)
        controllers = tuple(state.devices["controllers"])
        for ctl in new:
            controllers = insert_controller(controllers, ctl)
    elif is_i440fx(domain.os.machine):
        _place_i440fx(reqs, state)
        controllers = tuple(state.devices["controllers"])
    else:
        return domain
    fields: dict[str, Any] = {name: tuple(state.devices[name]) for name in _LISTS}
    fields["controllers"] = controllers
    return replace(domain, devices=replace(d, memballoon=state.balloon, **fields))
