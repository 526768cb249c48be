"""Hot-plug on a running QEMU: plug and unplug devices, change link states, and keep the
live definition (``live.xml``) equal to what QEMU has, device by device.

The caller holds the domain lock and passes a plan made from the live definition it read
under that lock (:mod:`pyvirt.qemu.hotplug`, :mod:`pyvirt.domain.devplan`). The live XML
is rewritten atomically after every device, so a pyvirt stopped midway leaves a
definition naming exactly the devices QEMU has.

Unplugging waits for DEVICE_DELETED. Without it within the timeout QEMU is asked
(``query-pci``): a device that is gone leaves the live definition, one that is still
there stays in it and is recorded as pending (:mod:`pyvirt.runtime.devstate`);
:meth:`Hotplug.reconcile`, run by every later hot-plug command, drops it once the guest
has let go.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from pyvirt.domain.devmatch import device_at, find_alias, is_transient_member
from pyvirt.domain.devplan import member_name, without
from pyvirt.domain.model import Domain, Interface, InterfaceType
from pyvirt.errors import (
    CommandFailedError,
    MonitorError,
    OperationFailedError,
    OperationInvalidError,
    OperationUnsupportedError,
    PyvirtError,
)
from pyvirt.qemu.command.devices_net import netdev_id
from pyvirt.qemu.hotplug import AttachPlan, Member, Plug, append
from pyvirt.qmp.monitor import Monitor
from pyvirt.runtime.devstate import DeviceRecords
from pyvirt.runtime.domain import Runtime
from pyvirt.runtime.hooks import NoHostResources
from pyvirt.runtime.launch import CONNECT_TIMEOUT

UNPLUG_TIMEOUT = 10.0
"""Seconds to wait for the guest to release a device (libvirt waits 5 s; a TCG guest
handling an ACPI eject needs about 0.3 s, a busy one more)."""

_SECOND_PRIMARY = "Cannot attach more than one primary device"


def _netdev_id(dev: Member) -> str | None:
    """The backend of an emulated NIC, as the builder names it (``host<alias>``)."""
    if isinstance(dev, Interface) and dev.type is not InterfaceType.HOSTDEV:
        return netdev_id(dev)
    return None


def _uses_host(dev: Member) -> bool:
    return not isinstance(dev, Interface) or dev.type is InterfaceType.HOSTDEV


@runtime_checkable
class DeviceHostHooks(Protocol):
    """Host hooks that can claim and give back one device of a running domain (the
    domain-wide :class:`~pyvirt.runtime.hooks.HostHooks` would touch all of them)."""

    def prepare_device(self, live: Domain, dev: Member) -> Member:
        """Claim what *dev* needs; return it with allocations filled in.
        :raises PyvirtError: naming what is missing (nothing stays claimed)."""
        ...

    def release_device(self, live: Domain, dev: Member) -> None:
        """Give back what *dev* held. Must not raise; idempotent."""
        ...


class Hotplug:
    """Hot-plug operations on the running domains of one :class:`Runtime`."""

    def __init__(self, runtime: Runtime, unplug_timeout: float = UNPLUG_TIMEOUT) -> None:
        self.runtime = runtime
        self.unplug_timeout = unplug_timeout

    def records(self, name: str) -> DeviceRecords:
        return DeviceRecords(self.runtime, name)

    @contextlib.asynccontextmanager
    async def _monitor(self, name: str) -> AsyncIterator[Monitor]:
        async with Monitor() as mon:
            await mon.connect(self.runtime.run_dir(name).monitor, timeout=CONNECT_TIMEOUT)
            yield mon

    # --- host resources -----------------------------------------------------------------

    def check_host_support(self, devices: Sequence[Member], action: str) -> None:
        """Refuse host devices the host hooks cannot handle one at a time.

        :raises OperationUnsupportedError: naming the device.
        """
        host = self.runtime.host
        if isinstance(host, NoHostResources | DeviceHostHooks):
            return
        for dev in devices:
            if _uses_host(dev):
                raise OperationUnsupportedError(
                    f"{action} of {member_name(dev)} is not supported: this host's "
                    "resource manager can only claim and release a whole domain's devices")

    def _claim(self, base: Domain, dev: Member) -> None:
        """:raises PyvirtError: when the host cannot provide the device as planned."""
        host = self.runtime.host
        if not _uses_host(dev) or not isinstance(host, DeviceHostHooks):
            return
        got = host.prepare_device(base, dev)
        if got != dev:
            host.release_device(base, got)
            raise OperationInvalidError(
                f"cannot hot-plug {member_name(dev)}: the host assigns it at start (network "
                "pool); attach it with --config and restart the domain")

    def _give_back(self, live: Domain, dev: Member) -> None:
        host = self.runtime.host
        if _uses_host(dev) and isinstance(host, DeviceHostHooks):
            host.release_device(live, dev)

    # --- plugging -----------------------------------------------------------------------

    async def _plug(self, mon: Monitor, base: Domain, plug: Plug) -> None:
        """netdev_add, device_add, set_link; the backend is removed again on failure.

        :raises MonitorError: QEMU's refusal, with a hint for QEMU's one-primary rule.
        """
        dev = plug.device
        self._claim(base, dev)
        netdev_id = _netdev_id(dev)
        try:
            if plug.netdev is not None:
                await mon.netdev_add(plug.netdev)
            try:
                await mon.device_add(plug.props)
            except MonitorError:
                if netdev_id is not None and plug.netdev is not None:
                    with contextlib.suppress(MonitorError):
                        await mon.netdev_del(netdev_id)
                raise
        except CommandFailedError as err:
            self._give_back(base, dev)
            if _SECOND_PRIMARY in err.description:
                raise OperationFailedError(
                    f"{err.description}: QEMU pairs a standby with the first primary it "
                    "was given, for as long as the standby exists; attach the transient "
                    "member under that alias again") from err
            raise
        if plug.link_down and dev.alias:
            await mon.set_link(dev.alias, False)

    async def attach(self, name: str, plan: AttachPlan) -> Domain:
        """Plug every device of *plan* in order and return the new live definition.

        When one fails, those plugged before it in this request are unplugged again, so
        the request has all or none of its effect (a device the guest does not release
        in time stays, and stays in the live definition).

        :raises PyvirtError: QEMU's refusal of the failing device.
        """
        done = 0
        records = self.records(name)
        async with self._monitor(name) as mon:
            try:
                for plug, stored_form in zip(plan.plugs, plan.config_devices, strict=True):
                    await self._plug(mon, plan.live_after(done), plug)
                    done += 1
                    records.write_live(plan.live_after(done))
                    records.plugged(stored_form)
            except PyvirtError:
                await self._roll_back(mon, name, plan, done)
                raise
        return plan.live_after(done)

    async def _roll_back(self, mon: Monitor, name: str, plan: AttachPlan, done: int) -> None:
        kept = list(plan.plugs[:done])
        for plug in reversed(plan.plugs[:done]):
            with contextlib.suppress(MonitorError, OperationFailedError):
                if await self._unplug(mon, name, plug.device):
                    kept.remove(plug)
        self.records(name).write_live(append(plan.base, [p.device for p in kept])[0])

    # --- unplugging ---------------------------------------------------------------------

    async def _unplug(self, mon: Monitor, name: str, dev: Member) -> bool:
        """device_del and wait; True when the device is gone (backend and host resources
        released), False when the guest has not released it yet.

        :raises OperationFailedError: for a transient member QEMU still keeps hidden.
        :raises MonitorError: when QEMU refuses the request.
        """
        alias = dev.alias or ""
        try:
            gone = await mon.device_del_and_wait(alias, self.unplug_timeout)
        except CommandFailedError as err:
            if err.error_class != "DeviceNotFound":
                raise
            if is_transient_member(dev) and alias not in self.records(name).pending():
                raise OperationFailedError(
                    f"cannot detach transient {member_name(dev)} yet: the guest has not "
                    "negotiated failover on its persistent partner, so QEMU keeps the "
                    "device hidden and cannot remove it (it plugs it as soon as the guest's "
                    "virtio-net driver accepts the standby); detach it with --config and "
                    "restart the domain to drop it") from err
            gone = True
        if not gone:
            gone = alias not in await mon.pci_device_ids()
        if gone:
            await self._release(mon, name, dev)
        return gone

    async def _release(self, mon: Monitor, name: str, dev: Member) -> None:
        """Delete the backend, give back host resources, leave the started definition."""
        self.records(name).unplugged(dev)
        netdev_id = _netdev_id(dev)
        if netdev_id is not None:
            with contextlib.suppress(CommandFailedError):  # already gone
                await mon.netdev_del(netdev_id)
        live = self.runtime.live_domain(name)
        if live is not None:
            self._give_back(live, dev)

    async def detach(self, name: str, devices: Sequence[Member]) -> bool:
        """Unplug *devices* in order (transient members first); True when all are gone.

        The live definition loses each device as soon as QEMU has removed it. A device the
        guest has not released within the timeout stays in it, recorded as pending, and
        the devices after it are left alone (the persistent member of a pair must
        outlive its transient partner).

        :raises PyvirtError: when QEMU refuses an unplug (the live definition then names
            what is still there).
        :raises OperationInvalidError: when the domain has no live definition.
        """
        live = self.runtime.live_domain(name)
        if live is None:
            raise OperationInvalidError("domain is not running")
        records = self.records(name)
        async with self._monitor(name) as mon:
            for dev in devices:
                if not await self._unplug(mon, name, dev):
                    records.set_pending([*records.pending(), dev.alias or ""])
                    return False
                live = without(live, [find_alias(live, dev.alias or "", "live detach")])
                records.write_live(live)
        return True

    async def reconcile(self, name: str) -> Domain | None:
        """Drop from the live definition the pending unplugs the guest has completed.

        :returns: the live definition when it changed, else None.
        :raises MonitorError: when QEMU cannot be asked.
        """
        records = self.records(name)
        pending = records.pending()
        live = self.runtime.live_domain(name)
        if not pending or live is None:
            records.set_pending([])
            return None
        async with self._monitor(name) as mon:
            present = set(await mon.pci_device_ids())
            done = [a for a in pending if a not in present]
            for alias in done:
                with contextlib.suppress(PyvirtError):  # not in the live definition: skip
                    found = find_alias(live, alias, "live detach")
                    await self._release(mon, name, device_at(live, found))
                    live = without(live, [found])
        records.write_live(live)
        records.set_pending([a for a in pending if a not in done])
        return live if done else None

    # --- link state ---------------------------------------------------------------------

    async def set_link(self, name: str, dev: Interface, up: bool | None,
                       live: Domain) -> None:
        """Tell QEMU the new link state of *dev* (None: unchanged), then record *live*.

        :raises MonitorError: when QEMU refuses it.
        """
        if up is not None:
            async with self._monitor(name) as mon:
                await mon.set_link(dev.alias or "", up)
        records = self.records(name)
        records.write_live(live)
        records.link_set(dev, dev.link)

