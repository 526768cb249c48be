"""Use cases on devices: virsh's attach-device, detach-device, detach-device-alias,
update-device and domif-setlink/getlink.

Every request runs under the domain lock. ``live`` changes the running guest (and its
live definition), ``config`` the stored definition; with both, both are planned and
checked before anything changes, the guest is changed first and the stored definition is
written only once that succeeded, so the two stay consistent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pyvirt.domain.device import Device, devices_from_file, devices_from_xml
from pyvirt.domain.devmatch import device_at, find_alias, find_device, find_link_target
from pyvirt.domain.devplan import (
    DeviceRef,
    LinkChange,
    counterpart,
    plan_detach,
    plan_update,
    with_link,
)
from pyvirt.domain.model import Domain, Interface, LinkState
from pyvirt.errors import InvalidArgError, NoDomainError, OperationInvalidError
from pyvirt.qemu.define import emulator_of, prepare_definition
from pyvirt.qemu.hotplug import Member, plan_config_attach, plan_live_attach
from pyvirt.runtime.hotplug import UNPLUG_TIMEOUT, Hotplug
from pyvirt.runtime.state import Reason
from pyvirt.service.domains import DomainService

AFFECT_CURRENT = 0
AFFECT_LIVE = 1
AFFECT_CONFIG = 2


@dataclass(frozen=True)
class Targets:
    live: bool
    config: bool


def resolve_targets(flags: int, *, active: bool, has_config: bool,
                    persistent: bool = False) -> Targets:
    """libvirt's modification impact: ``current`` (no flag) is the live guest when it
    runs, else the stored definition; virsh's ``--persistent`` is ``config`` plus
    ``live`` when the domain runs.

    :raises OperationInvalidError: ``live`` on a domain that is not running, ``config``
        on a transient domain (libvirt's messages).
    """
    live, config = bool(flags & AFFECT_LIVE), bool(flags & AFFECT_CONFIG)
    if persistent:
        live, config = live or active, True
    if not live and not config:
        live, config = active, not active
    if live and not active:
        raise OperationInvalidError("domain is not running")
    if config and not has_config:
        raise OperationInvalidError("transient domains do not have any persistent config")
    return Targets(live, config)


def _one_interface(devices: Sequence[Device], command: str) -> Device:
    if len(devices) != 1:
        raise InvalidArgError(f"{command} takes exactly one device, not {len(devices)}")
    return devices[0]


class DeviceService:
    """Hot-plug, hot-unplug and device updates on one local connection."""

    def __init__(self, domains: DomainService,
                 unplug_timeout: float = UNPLUG_TIMEOUT) -> None:
        self.domains = domains
        self.ctx = domains.ctx
        self.store = domains.store
        self.runtime = domains.runtime
        self.hotplug = Hotplug(self.runtime, unplug_timeout)

    # --- shared ---------------------------------------------------------------------

    def _name(self, ref: str) -> str:
        return self.domains.lookup(ref).name

    def _stored(self, name: str) -> Domain | None:
        try:
            return self.store.load(name) if self.store.exists(name) else None
        except NoDomainError:
            return None

    async def _open(self, name: str, flags: int, persistent: bool
                    ) -> tuple[Targets, Domain | None, Domain | None]:
        """(targets, live definition, stored definition) under the caller's lock."""
        observed = await self.runtime.observe(name, holding_lock=True)
        stored = self._stored(name)
        info = observed.info
        targets = resolve_targets(flags, active=info.state.active,
                                  has_config=stored is not None, persistent=persistent)
        live = None
        if targets.live:
            if info.reason in (Reason.STARTING_UP, Reason.MIGRATION):
                raise OperationInvalidError("domain is being started or migrated")
            await self.hotplug.reconcile(name)
            live = self.runtime.live_domain(name)
            if live is None:
                raise OperationInvalidError("domain is not running")
        return targets, live, stored

    # --- attach ---------------------------------------------------------------------

    def attach(self, ref: str, devices: Sequence[Device], flags: int = AFFECT_CURRENT,
               persistent: bool = False) -> None:
        """Add *devices* (plugged persistent teaming member first).

        :raises PyvirtError: for the first rule broken; nothing changes then.
        """
        name = self._name(ref)
        with self.runtime.lock(name, "attach-device"):
            asyncio.run(self._attach(name, devices, flags, persistent))

    async def _attach(self, name: str, devices: Sequence[Device], flags: int,
                      persistent: bool) -> None:
        targets, live, stored = await self._open(name, flags, persistent)
        base = live or stored
        assert base is not None  # resolve_targets guarantees one of them
        caps = self.ctx.caps_for(emulator_of(base))
        new_mac = self.ctx.new_mac()
        plan = plan_live_attach(live, devices, caps, new_mac) if live is not None else None
        config = plan_config_attach(stored, devices, caps, new_mac, plan) \
            if targets.config and stored is not None else None
        if plan is not None:
            self.hotplug.check_host_support([p.device for p in plan.plugs], "live attach")
            await self.hotplug.attach(name, plan)
        if config is not None:
            self.store.save(config)

    # --- detach ---------------------------------------------------------------------

    def detach(self, ref: str, refs: Sequence[DeviceRef], flags: int = AFFECT_CURRENT,
               persistent: bool = False) -> bool:
        """Remove the devices *refs* name (descriptions or aliases), transient teaming
        members first.

        :returns: True when done, False when the guest has not released a device yet
            (the request stays pending; the live definition keeps the device until then).
        :raises PyvirtError: when a device is not found, ambiguous, or would leave a
            teaming partner behind; nothing changes then.
        """
        name = self._name(ref)
        with self.runtime.lock(name, "detach-device"):
            return asyncio.run(self._detach(name, refs, flags, persistent))

    async def _detach(self, name: str, refs: Sequence[DeviceRef], flags: int,
                      persistent: bool) -> bool:
        targets, live, stored = await self._open(name, flags, persistent)
        live_plan = plan_detach(live, refs, "live detach") if live is not None else None
        config = None
        if targets.config and stored is not None:
            config_refs = [counterpart(d) for d in live_plan.devices] if live_plan else refs
            after = plan_detach(stored, config_refs, "persistent detach").after
            config = prepare_definition(after, self.ctx.caps_for(emulator_of(after)),
                                        self.ctx.new_mac())
        done = True
        if live_plan is not None:
            self.hotplug.check_host_support(live_plan.devices, "live detach")
            done = await self.hotplug.detach(name, live_plan.devices)
        if config is not None:
            self.store.save(config)
        return done

    # --- update and link state --------------------------------------------------------

    def update(self, ref: str, devices: Sequence[Device], flags: int = AFFECT_CURRENT,
               persistent: bool = False) -> None:
        """``update-device``: change the link state of one interface.

        :raises PyvirtError: for anything but a link change (see :func:`plan_update`).
        """
        spec = _one_interface(devices, "update-device")
        name = self._name(ref)
        with self.runtime.lock(name, "update-device"):
            asyncio.run(self._update(name, spec, None, flags, persistent))

    def set_link(self, ref: str, iface: str, state: str, config: bool = False) -> None:
        """``domif-setlink``: IFACE is an alias, target device name or MAC address.

        :raises InvalidArgError: for a state other than up or down.
        :raises PyvirtError: when the interface is not found, ambiguous or a hostdev.
        """
        if state not in ("up", "down"):
            raise InvalidArgError(f"invalid link state '{state}'")
        name = self._name(ref)
        with self.runtime.lock(name, "domif-setlink"):
            # virsh: the running guest, or the stored definition of an inactive domain
            asyncio.run(self._update(name, None, (iface, LinkState(state)),
                                     AFFECT_CONFIG if config else AFFECT_CURRENT, False))

    async def _update(self, name: str, spec: Device | None,
                      by_name: tuple[str, LinkState] | None, flags: int,
                      persistent: bool) -> None:
        targets, live, stored = await self._open(name, flags, persistent)
        change = cchange = None
        if live is not None:
            live_spec = spec if spec is not None else _link_spec(live, by_name)
            change = plan_update(live, live_spec, "live update")
        if targets.config and stored is not None:
            if change is not None:
                cspec: Device = _same_device(stored, change)
            else:
                cspec = spec if spec is not None else _link_spec(stored, by_name)
            cchange = plan_update(stored, cspec, "persistent update")
        if change is not None and live is not None:
            await self.hotplug.set_link(name, change.device, change.link_up,
                                        with_link(live, change))
        if cchange is not None and stored is not None:
            self.store.save(with_link(stored, cchange))

    def get_link(self, ref: str, iface: str, config: bool = False) -> str:
        """``domif-getlink``: ``up`` or ``down``.

        :raises PyvirtError: when the domain or the interface is not found, or ambiguous.
        """
        domain = self.domains.live_or_inactive(ref, inactive=config)
        nic = device_at(domain, find_link_target(domain, iface))
        return "down" if isinstance(nic, Interface) and nic.link is LinkState.DOWN else "up"


def _link_spec(domain: Domain, by_name: tuple[str, LinkState] | None) -> Interface:
    """The interface IFACE names, as an update request that only sets its link."""
    assert by_name is not None  # callers pass either a device or a name
    iface, link = by_name
    nic = device_at(domain, find_link_target(domain, iface))
    assert isinstance(nic, Interface)
    return replace(nic, link=link)


def _same_device(stored: Domain, change: LinkChange) -> Device:
    """The stored form of the live device *change* is about, as an update request."""
    ref = counterpart(change.device)
    found = find_alias(stored, ref, "persistent update") if isinstance(ref, str) \
        else find_device(stored, ref, "persistent update")
    dev: Member = device_at(stored, found)
    assert isinstance(dev, Interface)
    return replace(dev, link=change.device.link)


def read_devices(path: str | Path) -> tuple[Device, ...]:
    """:raises PyvirtError: for unreadable, malformed or out-of-schema files."""
    return devices_from_file(path)


def parse_devices(xml: str) -> tuple[Device, ...]:
    """:raises PyvirtError: for malformed or out-of-schema XML."""
    return devices_from_xml(xml)
