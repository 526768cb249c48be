"""Running domains without a daemon: start, observe (reconcile), stop, pause.

Every operation re-derives the truth from the process and QMP, so whatever happened
while no pyvirt was running (QEMU killed, a guest that powered itself off, a pyvirt
killed half-way through ``start``) is reconciled by the next command that looks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from pyvirt.domain.io import domain_from_xml, domain_to_xml
from pyvirt.domain.model import Domain, Graphics, InterfaceType, LinkState
from pyvirt.errors import (
    LockTimeoutError,
    OperationFailedError,
    OperationInvalidError,
    PyvirtError,
)
from pyvirt.qemu.aliases import assign_aliases
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.command import BuildEnv, build_command
from pyvirt.qmp.monitor import Monitor
from pyvirt.runtime import process
from pyvirt.runtime.capscache import CapsCache
from pyvirt.runtime.failover import PairStatus, failover_status
from pyvirt.runtime.hooks import HostHooks, NicConnection, NicHooks, NoHostResources
from pyvirt.runtime.launch import (
    CONNECT_TIMEOUT,
    Launch,
    LaunchPlan,
    bring_up,
    plan_key,
    save_plan,
    spawn_qemu,
)
from pyvirt.runtime.quickstop import query_run_state
from pyvirt.runtime.state import Command, DomainState, Reason, StateInfo, guard
from pyvirt.runtime.status import (
    LOCK_TIMEOUT,
    RunDir,
    RuntimeStatus,
    domain_lock,
    qemu_log,
)
from pyvirt.runtime.stop import live_domain, stopped
from pyvirt.store.locks import DomainLock
from pyvirt.store.roots import StateRoot

_QEMU_STATES = {
    "running": StateInfo(DomainState.RUNNING, Reason.BOOTED),
    "paused": StateInfo(DomainState.PAUSED, Reason.USER),
    "prelaunch": StateInfo(DomainState.PAUSED, Reason.STARTING_UP),
    "inmigrate": StateInfo(DomainState.PAUSED, Reason.MIGRATION),
    "postmigrate": StateInfo(DomainState.PAUSED, Reason.MIGRATION),
    "finish-migrate": StateInfo(DomainState.PAUSED, Reason.MIGRATION),
    "suspended": StateInfo(DomainState.PMSUSPENDED, Reason.UNKNOWN),
    "internal-error": StateInfo(DomainState.CRASHED, Reason.CRASHED),
    "guest-panicked": StateInfo(DomainState.CRASHED, Reason.CRASHED),
}


@dataclass(frozen=True)
class Observed:
    info: StateInfo
    status: RuntimeStatus | None  # set while a QEMU runs


class Runtime:
    """The running side of one state root."""

    def __init__(self, root: StateRoot, host: HostHooks | None = None,
                 qemu_user: str | None = None) -> None:
        self.root = root
        self.host: HostHooks = host or NoHostResources()
        self.qemu_user = qemu_user  # run QEMU as this user (None: as the caller)

    def run_dir(self, name: str) -> RunDir:
        return RunDir(self.root.domain_run_dir(name))

    def log_path(self, name: str) -> Path:
        return qemu_log(self.root, name)

    def lock(self, name: str, job: str, timeout: float = LOCK_TIMEOUT) -> DomainLock:
        return domain_lock(self.root, name, job, timeout)

    def started_definition(self, name: str) -> Domain | None:
        """The definition a running domain was started from (see RunDir.definition)."""
        try:
            return domain_from_xml(self.run_dir(name).definition.read_bytes())
        except (OSError, PyvirtError):
            return None

    def live_domain(self, name: str) -> Domain | None:
        """The live definition (runtime aliases) of a running domain, else None."""
        return live_domain(self.run_dir(name))

    def stopped(self, name: str, reason: Reason,
                ident: process.ProcessId | None = None) -> None:
        """The one way a guest stops (:func:`pyvirt.runtime.stop.stopped`): QEMU killed
        (if *ident*), host resources given back, the stop recorded."""
        stopped(self.run_dir(name), reason, ident, self.host)

    # --- observing -------------------------------------------------------------------

    async def observe(self, name: str, *, holding_lock: bool = False) -> Observed:
        """The domain's real state, cleaning up after whatever went wrong meanwhile.

        *holding_lock*: the caller holds the domain lock, so a half-finished start found
        now was abandoned by a pyvirt that died.
        """
        rd = self.run_dir(name)
        status = rd.read_status()
        if status is None:
            self._kill_orphan(rd, name, holding_lock)
            self._release_stray_nics(name, holding_lock)
            return Observed(rd.read_last_state(), None)
        if not status.process.alive():
            process.reap(status.process)
            self.stopped(name, Reason.CRASHED)
            return Observed(StateInfo(DomainState.SHUTOFF, Reason.CRASHED), None)
        unfinished = status.info.reason in (Reason.STARTING_UP, Reason.MIGRATION) \
            and status.info.state is DomainState.PAUSED
        if unfinished and (holding_lock or self._abandoned(name)):
            self.stopped(name, Reason.FAILED, status.process)
            return Observed(StateInfo(DomainState.SHUTOFF, Reason.FAILED), None)
        qemu_state = await query_run_state(rd)
        if qemu_state == "shutdown":  # the guest powered off; on_poweroff is destroy
            self.stopped(name, Reason.SHUTDOWN, status.process)
            return Observed(StateInfo(DomainState.SHUTOFF, Reason.SHUTDOWN), None)
        if qemu_state == "postmigrate" and (holding_lock or self._abandoned(name)):
            # the guest completed an outgoing migration whose driver died: it lives on
            # the destination now, so this copy must never run again
            self.stopped(name, Reason.MIGRATED, status.process)
            return Observed(StateInfo(DomainState.SHUTOFF, Reason.MIGRATED), None)
        info = status.info
        if qemu_state in _QEMU_STATES:
            seen = _QEMU_STATES[qemu_state]
            if seen.state is not info.state:
                info = seen
        return Observed(info, status.with_state(info))

    def _kill_orphan(self, rd: RunDir, name: str, holding_lock: bool) -> None:
        """A QEMU whose starter died before recording it: known only by its pidfile."""
        ident = rd.pidfile_process()
        if ident is None:
            return
        if holding_lock or self._abandoned(name):
            self.stopped(name, Reason.FAILED, ident)

    def _release_stray_nics(self, name: str, holding_lock: bool) -> None:
        """A start killed before QEMU ran leaves recorded taps (a macvtap outlives its
        maker): the next command that looks at the domain removes them."""
        if isinstance(self.host, NicHooks) and self.host.holds_nics(name) and (
                holding_lock or self._abandoned(name)):
            self.host.release_nics(name)

    def _abandoned(self, name: str) -> bool:
        """True when the pyvirt that was starting *name* is gone (its lock is free)."""
        try:
            with self.lock(name, "reconcile", timeout=0):
                return True
        except LockTimeoutError:
            return False

    # --- changing state ---------------------------------------------------------------

    async def start(self, domain: Domain, caps: QemuCaps, *, paused: bool = False,
                    incoming: str | None = None) -> Domain:
        """Launch QEMU for *domain* (lock held by the caller) and return the live domain.

        A plain start of a domain that holds no host resources (:func:`plan_eligible`)
        leaves a launch plan behind, so the next start of the same definition can skip
        all this (see runtime/launch.py).

        :raises ProcessError: with QEMU's own last words when it does not come up.
        """
        name = domain.name
        rd = self.run_dir(name)
        guard(Command.START, (await self.observe(name, holding_lock=True)).info.state)
        live = self.host.prepare(assign_aliases(domain))
        nics: NicConnection | None = None
        try:
            if isinstance(self.host, NicHooks):  # taps: made now, inherited by QEMU
                nics = self.host.connect_nics(live)
                live = nics.domain
            command = build_command(live, caps, BuildEnv(
                qmp_socket=rd.monitor_argument, pidfile=rd.pidfile, incoming=incoming,
                nic_fds=nics.fds if nics else {}))
            launch = Launch(name, domain.uuid or "", command.argv, domain_to_xml(domain),
                            domain_to_xml(live),
                            tuple(nic.alias for nic in live.devices.interfaces
                                  if nic.link is LinkState.DOWN and nic.alias))
            status = spawn_qemu(self.root, rd, launch, self.log_path(name), self.qemu_user,
                                nics.pass_fds if nics else ())
        except BaseException:
            self.host.release(live)
            raise
        finally:
            if nics is not None:  # QEMU holds its own copies: a tap goes when QEMU does
                nics.close()
        await bring_up(rd, status, launch, self.log_path(name), paused, incoming,
                       stop=lambda: self.stopped(name, Reason.FAILED, status.process))
        if incoming is None and plan_eligible(live):
            key = plan_key(self.root, launch.definition_xml, caps.binary,
                           CapsCache(self.root.caps_dir).entry_path(caps.binary),
                           self.qemu_user)
            if key is not None:
                save_plan(self.root, LaunchPlan(key, launch))
        return live

    async def destroy(self, name: str) -> None:
        observed = await self.observe(name, holding_lock=True)
        guard(Command.DESTROY, observed.info.state)
        assert observed.status is not None
        self.stopped(name, Reason.DESTROYED, observed.status.process)

    async def set_paused(self, name: str, pause: bool) -> None:
        observed = await self.observe(name, holding_lock=True)
        target = guard(Command.SUSPEND if pause else Command.RESUME, observed.info.state)
        assert observed.status is not None
        rd = self.run_dir(name)
        async with Monitor() as mon:
            await mon.connect(rd.monitor, timeout=CONNECT_TIMEOUT)
            await (mon.stop() if pause else mon.cont())
        reason = Reason.USER if pause else Reason.UNPAUSED
        rd.write_status(observed.status.with_state(StateInfo(target, reason)))

    async def shutdown(self, name: str, timeout: float) -> None:
        """ACPI power button, then wait for the guest to power off.

        :raises OperationFailedError: naming ``destroy`` when the guest ignores it.
        """
        observed = await self.observe(name, holding_lock=True)
        guard(Command.SHUTDOWN, observed.info.state)
        assert observed.status is not None
        rd = self.run_dir(name)
        async with Monitor() as mon:
            await mon.connect(rd.monitor, timeout=CONNECT_TIMEOUT)
            off = await mon.powerdown_and_wait(timeout)
        if not off and observed.status.process.alive():
            raise OperationFailedError(
                f"domain '{name}' did not shut down within {timeout:g} s (the guest may "
                f"ignore the ACPI power button); use 'pyvirt destroy {name}' to force it off")
        self.stopped(name, Reason.SHUTDOWN, observed.status.process)

    async def reset(self, name: str) -> None:
        """QEMU's ``system_reset``: the guest restarts at once, as a reset button."""
        observed = await self.observe(name, holding_lock=True)
        if not observed.info.state.active:
            raise OperationInvalidError("domain is not running")
        async with Monitor() as mon:
            await mon.connect(self.run_dir(name).monitor, timeout=CONNECT_TIMEOUT)
            await mon.system_reset()

    async def reboot(self, name: str, timeout: float) -> None:
        """libvirt's ACPI reboot: the power button; once the guest has powered off
        (QEMU stays, ``-no-shutdown``), reset it and let it run again, all on one monitor
        connection, so no other pyvirt sees the powered-off guest and reaps it.

        :raises OperationFailedError: when the guest ignores the button.
        """
        observed = await self.observe(name, holding_lock=True)
        guard(Command.SHUTDOWN, observed.info.state)
        assert observed.status is not None
        async with Monitor() as mon:
            await mon.connect(self.run_dir(name).monitor, timeout=CONNECT_TIMEOUT)
            off = await mon.powerdown_and_wait(timeout)
            alive = observed.status.process.alive()
            if off and alive:
                await mon.system_reset()
                await mon.cont()
                # as libvirt's fake reboot: running (booted) again
                self.run_dir(name).write_status(observed.status.with_state(
                    StateInfo(DomainState.RUNNING, Reason.BOOTED)))
        if not alive:  # QEMU went away instead
            self.stopped(name, Reason.SHUTDOWN, observed.status.process)
        elif not off:
            raise OperationFailedError(
                f"domain '{name}' did not reboot within {timeout:g} s (the guest may "
                f"ignore the ACPI power button); use 'pyvirt reset {name}' to force it")

    def record_state(self, name: str, info: StateInfo) -> None:
        """Note a state change made through a monitor the caller holds."""
        rd = self.run_dir(name)
        status = rd.read_status()
        if status is not None:
            rd.write_status(status.with_state(info))

    async def failover(self, name: str) -> tuple[PairStatus, ...]:
        observed = await self.observe(name)
        live = self.live_domain(name)
        if observed.status is None or live is None:
            raise OperationInvalidError("domain is not running")
        async with Monitor() as mon:
            await mon.connect(self.run_dir(name).monitor, timeout=CONNECT_TIMEOUT)
            return await failover_status(mon, live)


#: ``<devices>`` kinds known to hold nothing on the host that pyvirt makes or claims for
#: the guest (files and block devices a definition names are the admin's). Any other kind,
#: including one the model gains later, keeps a domain from having a launch plan until it
#: is judged host-free and listed here; ``interfaces`` and ``graphics`` are judged per item.
HOST_FREE_DEVICE_KINDS = frozenset({"emulator", "disks", "controllers", "serials", "consoles",
                                    "inputs", "audios", "videos", "memballoon", "rngs"})
#: NIC types known to need nothing on the host: user-mode networking lives in QEMU. Every
#: other type (bridge, network, direct, ethernet, hostdev, vhostuser, and any type added
#: later) needs a tap, macvtap, VF or socket that the host hooks set up and give back.
HOST_FREE_NIC_TYPES = frozenset({InterfaceType.USER})


def plan_eligible(live: Domain) -> bool:
    """Whether a launch plan may replay the start of *live*: only when starting it claims
    nothing on the host (a whitelist: anything not known to be host-free is not), since
    a plan replays the command line without the host hooks. See docs/architecture.md,
    "Launch plans and host resources"."""
    devices = live.devices
    for spec in dataclasses.fields(devices):
        kind, value = spec.name, getattr(devices, spec.name)
        if not value or kind in HOST_FREE_DEVICE_KINDS:
            continue
        if kind == "interfaces" and all(nic.type in HOST_FREE_NIC_TYPES for nic in value):
            continue
        if kind == "graphics" and all(_fixed_port(g) for g in value):
            continue
        return False
    return True


def _fixed_port(graphics: Graphics) -> bool:
    """A VNC display on a port the definition fixes (autoport would reserve one)."""
    return graphics.port is not None and graphics.port >= 0 and not graphics.autoport
