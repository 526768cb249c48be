"""The source side of a live migration: begin, prepare (remote), perform, finish
(remote), confirm — or roll back, and prove the primary is back on the source."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass

from pyvirt.domain.defaults import strip_auto_aliases
from pyvirt.domain.io import domain_from_xml, domain_to_xml
from pyvirt.domain.model import Domain
from pyvirt.errors import (
    MigrationFailedError,
    OperationAbortedError,
    OperationFailedError,
    OperationInvalidError,
    PyvirtError,
)
from pyvirt.migration.follow import CancelReason, Follower, FollowLimits
from pyvirt.migration.job import ABORT_SIGNAL, JobFiles, JobStats
from pyvirt.migration.plan import MigrationPlan, plan_migration
from pyvirt.migration.ports import DomainOps
from pyvirt.migration.transport import Agent, attach_agent, migration_host, start_agent
from pyvirt.qmp.monitor import Monitor
from pyvirt.runtime import process
from pyvirt.runtime.failover import failover_status
from pyvirt.runtime.state import Reason
from pyvirt.store.roots import ConnectUri

REPLUG_TIMEOUT = 15.0
FINISH_TIMEOUT = 120.0


@dataclass(frozen=True)
class MigrateOptions:
    persistent: bool = False
    undefine_source: bool = False
    xml: str | None = None  # replaces the destination definition (e.g. another VF there)
    unplug_timeout: float = 30.0
    suspend_after: float | None = None
    bandwidth_mib: int | None = None
    migrate_uri: str | None = None


@dataclass(frozen=True)
class MigrationResult:
    stats: JobStats
    dest_pairs: tuple[dict[str, object], ...]
    notes: tuple[str, ...]


class SourceMigration:
    """One outgoing migration; the caller holds the source domain's lock."""

    def __init__(self, ops: DomainOps, name: str, dest: ConnectUri, opts: MigrateOptions,
                 show: Callable[[JobStats], None] | None = None,
                 agent: subprocess.Popen[bytes] | None = None) -> None:
        """*ops*: the source connection's domains. *agent*: the destination's agent when
        the caller has started it already (``spawn_agent``); otherwise :meth:`run`
        starts it."""
        self.ops, self.name, self.dest, self.opts = ops, name, dest, opts
        self.show = show
        self.agent_process = agent
        self.jobs = JobFiles(ops.runtime.run_dir(name).path)

    def _publish(self, stats: JobStats) -> None:
        self.jobs.publish(stats)
        if self.show:
            self.show(stats)

    def _destination_xml(self, live: Domain) -> str:
        """The migratable XML: the stored definition (or --xml), without runtime state."""
        # what runs now (hot-plugged devices included), as libvirt migrates the live
        # definition; the stored one only when the run directory lacks it
        base = self.ops.runtime.started_definition(self.name) \
            or self.ops.find_defined(self.name) or strip_auto_aliases(live)
        if self.opts.xml is None:
            return domain_to_xml(base)
        other = domain_from_xml(self.opts.xml)
        if other.name != base.name:
            raise OperationInvalidError(
                f"target domain name '{other.name}' does not match source '{base.name}'")
        if other.uuid and other.uuid != base.uuid:
            raise OperationInvalidError(
                f"target domain uuid {other.uuid} does not match source {base.uuid}")
        return self.opts.xml

    def _uri(self, port: int) -> str:
        if self.opts.migrate_uri:
            uri = self.opts.migrate_uri
            return uri if uri.count(":") >= 2 else f"{uri}:{port}"
        return f"tcp:{migration_host(self.dest)}:{port}"

    async def run(self) -> MigrationResult:
        # The destination's pyvirt starts up (a Python process: a few hundred ms) while
        # this side checks the domain, so the two overlap instead of adding up; a refused
        # migration just closes the agent before it was asked anything.
        greeting = asyncio.get_running_loop().create_task(self._greeted_agent())
        taken = False
        try:
            runtime = self.ops.runtime
            observed = await runtime.observe(self.name, holding_lock=True)
            live = runtime.live_domain(self.name)
            if observed.status is None or live is None:
                raise OperationInvalidError("domain is not running")
            async with Monitor() as mon:
                await mon.connect(runtime.run_dir(self.name).monitor, timeout=30)
                plan = plan_migration(live, observed.info.state,
                                      await failover_status(mon, live))
                xml = self._destination_xml(live)
                agent, taken = await greeting, True
                try:
                    return await self._perform(mon, agent, plan, xml,
                                               observed.status.process)
                finally:
                    with contextlib.suppress(PyvirtError, OSError):
                        await agent.channel.request("bye", timeout=10)
                    await agent.close()
        finally:
            if not taken:
                await _discard(greeting)

    async def _greeted_agent(self) -> Agent:
        agent = await (attach_agent(self.agent_process) if self.agent_process
                       else start_agent(self.dest))
        try:
            await agent.channel.request("hello", timeout=60)
        except BaseException:
            await agent.close()
            raise
        return agent

    async def _perform(self, mon: Monitor, agent: Agent, plan: MigrationPlan, xml: str,
                       source_qemu: process.ProcessId) -> MigrationResult:
        prep = await agent.channel.request(
            "prepare", timeout=120, xml=xml, persistent=self.opts.persistent,
            listen="127.0.0.1" if not self.dest.is_remote else "0.0.0.0")
        abort = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(ABORT_SIGNAL, abort.set)
        try:
            async with mon.events("MIGRATION", "UNPLUG_PRIMARY", "MIGRATION_PASS") as stream:
                await mon.enable_migration_events()
                if self.opts.bandwidth_mib:
                    await mon.set_migration_bandwidth(self.opts.bandwidth_mib * 1024 * 1024)
                follower = Follower(mon, stream, FollowLimits(
                    self.opts.unplug_timeout, self.opts.suspend_after), abort, self._publish)
                await mon.migrate(self._uri(int(prep["port"])))
                stats = await follower.run()
        finally:
            loop.remove_signal_handler(ABORT_SIGNAL)
        if stats.phase != "completed":
            await self._roll_back(mon, agent, plan, stats, follower.state.cancel)
        return await self._confirm(mon, agent, plan, stats, source_qemu)

    async def _confirm(self, mon: Monitor, agent: Agent, plan: MigrationPlan, stats: JobStats,
                       source_qemu: process.ProcessId) -> MigrationResult:
        try:
            done = await agent.channel.request("finish", timeout=FINISH_TIMEOUT, wait=60,
                                               expect_plugged=list(plan.unplug),
                                               stats=asdict(stats))
        except PyvirtError as err:
            # the destination could not take over: the source copy must keep the guest
            with contextlib.suppress(PyvirtError):
                await agent.channel.request("abort", timeout=30)
            with contextlib.suppress(PyvirtError):
                await mon.cont()
            self.jobs.finish(stats.evolve(phase="failed", error=str(err)))
            raise MigrationFailedError(
                f"job 'migration out' failed: destination did not resume the guest ({err}); "
                "the guest was resumed on the source") from err
        self.ops.runtime.stopped(self.name, Reason.MIGRATED, source_qemu)
        self.jobs.finish(stats)
        if self.opts.undefine_source and self.ops.store.exists(self.name):
            self.ops.store.delete(self.name)
        pairs = tuple(p for p in done.get("pairs", []) if isinstance(p, dict))
        notes = list(plan.notes)
        notes += [f"primary '{p['transient']}' is not plugged on the destination"
                  for p in pairs if p.get("transient") in plan.unplug and not p.get("plugged")]
        return MigrationResult(stats, pairs, tuple(notes))

    async def _roll_back(self, mon: Monitor, agent: Agent, plan: MigrationPlan,
                         stats: JobStats, cancel: CancelReason | None) -> None:
        """The guest stays on the source: check its primary is back, clean the
        destination, and raise the error that says what happened."""
        with contextlib.suppress(PyvirtError):
            await agent.channel.request("abort", timeout=30)
        missing = await self._wait_replugged(mon, plan.unplug)
        if cancel is CancelReason.CLIENT:
            err: PyvirtError = OperationAbortedError("job 'migration out' canceled by client")
        elif cancel is CancelReason.UNPLUG_TIMEOUT:
            device = plan.unplug[0] if plan.unplug else "?"
            err = OperationFailedError(
                f"migration cancelled: guest did not release transient device '{device}' "
                f"within {self.opts.unplug_timeout:g} s")
        else:
            err = MigrationFailedError(
                f"job 'migration out' failed: {stats.error or 'unexpectedly failed'}")
        if missing:
            err = type(err)(f"{err.detail}; primary {', '.join(missing)} is NOT plugged back "
                            "on the source")
        self.jobs.finish(stats.evolve(error=str(err)))
        raise err

    async def _wait_replugged(self, mon: Monitor, ids: tuple[str, ...]) -> list[str]:
        """Primaries still missing from the source's PCI bus after QEMU's re-plug."""
        deadline = asyncio.get_running_loop().time() + REPLUG_TIMEOUT
        while True:
            present = set(await mon.pci_device_ids())
            missing = [i for i in ids if i not in present]
            if not missing or asyncio.get_running_loop().time() > deadline:
                return missing
            await asyncio.sleep(0.1)


async def _discard(greeting: asyncio.Task[Agent]) -> None:
    """Stop an agent that will not be used (still starting, or started but unused)."""
    greeting.cancel()  # no-op once it is done
    try:
        agent = await greeting
    except (Exception, asyncio.CancelledError):
        return
    await agent.close()
