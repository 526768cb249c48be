"""The destination side: ``pyvirt migrate-agent`` serves one incoming migration.

prepare: validate the definition here, start QEMU with ``-incoming defer`` and listen.
finish: wait for QEMU's ``completed``, resume, check the guest re-plugged its primary.
abort (or a broken channel before completion): remove every trace of the guest here.
A broken channel *after* completion resumes the guest: the source has stopped its copy
(or will, on its next command), so the guest must run here, exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from typing import Any

from pyvirt.domain.io import domain_from_xml
from pyvirt.domain.model import Domain
from pyvirt.errors import (
    MigrationFailedError,
    OperationFailedError,
    OperationInvalidError,
    PyvirtError,
    to_wire,
)
from pyvirt.migration.job import JobFiles, JobStats
from pyvirt.migration.ports import DomainOps
from pyvirt.migration.protocol import PROTOCOL_VERSION, decode, encode
from pyvirt.qmp.monitor import EventStream, Monitor
from pyvirt.runtime.failover import failover_status
from pyvirt.runtime.state import DomainState, Reason, StateInfo
from pyvirt.store.locks import DomainLock
from pyvirt.types import PciAddress

REPLUG_TIMEOUT = 20.0
LOST_CHANNEL_GRACE = 120.0  # how long an orphaned incoming migration may still run
# how long, after losing the source, an incoming migration may still not have begun: the
# source QEMU connects as soon as it is told to migrate, so a stream that has not begun
# by then never will (its pyvirt died before starting it)
UNSTARTED_GRACE = 10.0
_NOT_BEGUN = ("none", "setup")


def free_port(host: str) -> int:
    """A TCP port nobody listens on now (QEMU binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class DestinationAgent:
    """One incoming migration into the domains of *ops* (this host's connection)."""

    def __init__(self, ops: DomainOps) -> None:
        self.ops = ops
        self.runtime = ops.runtime
        self.domain: Domain | None = None
        self.live: Domain | None = None
        self.persistent = False
        self.lock: DomainLock | None = None
        self.monitor: Monitor | None = None
        self.stream: EventStream | None = None
        self.exits = contextlib.AsyncExitStack()
        self.completed = False
        self.resumed = False

    # --- operations -------------------------------------------------------------------

    async def prepare(self, xml: str, persistent: bool, listen: str) -> dict[str, Any]:
        # a cold cache probes QEMU with its own event loop: keep it off this one
        domain, caps = await asyncio.to_thread(self.ops.prepare, domain_from_xml(xml))
        self.lock = self.runtime.lock(domain.name, "migration in")
        self.lock.acquire()
        await self._ensure_free(domain, holding_lock=True)
        self.domain, self.persistent = domain, persistent
        self.live = await self.runtime.start(domain, caps, incoming="defer")
        self.monitor = await self.exits.enter_async_context(Monitor())
        await self.monitor.connect(self.runtime.run_dir(domain.name).monitor)
        self.stream = await self.exits.enter_async_context(self.monitor.events("MIGRATION"))
        await self.monitor.enable_migration_events()
        port = free_port(listen)
        await self.monitor.migrate_incoming(f"tcp:{listen}:{port}")
        return {"port": port}

    async def check(self, xml: str, reserved_kib: int, taken: list[str]) -> dict[str, Any]:
        """Could *xml* arrive here now, with *reserved_kib* of memory and the VFs in
        *taken* already promised to other arrivals? Starts and claims nothing.

        :raises PyvirtError: saying why not (the definition is invalid here, the domain is
            active or defined with another UUID here, memory, VFs).
        """
        domain, _caps = await asyncio.to_thread(self.ops.prepare, domain_from_xml(xml))
        await self._ensure_free(domain, holding_lock=False)
        need = domain.current_memory or domain.memory
        free = available_memory_kib() - reserved_kib
        if need > free:
            raise OperationFailedError(
                f"not enough free memory for domain '{domain.name}': it needs "
                f"{need // 1024} MiB, {max(free, 0) // 1024} MiB are available")
        vfs = await asyncio.to_thread(self.ops.room_for, domain,
                                      [PciAddress.parse_host_string(t) for t in taken])
        return {"memory_kib": need, "vfs": [v.host_string for v in vfs]}

    async def finish(self, timeout: float, expect_plugged: list[str],
                     stats: dict[str, Any] | None = None) -> dict[str, Any]:
        _mon, domain = self._need()
        status = await self._wait_incoming(timeout)
        if status != "completed":
            raise MigrationFailedError(f"incoming migration ended as '{status}'")
        await self._resume()
        if self.persistent:
            self.ops.store.save(domain)
        pairs = await self._wait_replug(set(expect_plugged))
        if stats:  # so that `domjobinfo --completed` answers here too, as in libvirt
            with contextlib.suppress(TypeError, PyvirtError):
                incoming = JobStats(**stats).evolve(operation="migration in", pid=os.getpid())
                JobFiles(self.runtime.run_dir(domain.name).path).finish(incoming)
        return {"pairs": [p.as_dict() for p in pairs]}

    async def abort(self) -> dict[str, Any]:
        if self.domain is not None and not self.resumed:
            status = self.runtime.run_dir(self.domain.name).read_status()
            self.runtime.stopped(self.domain.name, Reason.FAILED,
                                 status.process if status is not None else None)
        return {}

    # --- helpers ----------------------------------------------------------------------

    async def _ensure_free(self, domain: Domain, *, holding_lock: bool) -> None:
        """:raises PyvirtError: the name is active here, or defined with another UUID."""
        observed = await self.runtime.observe(domain.name, holding_lock=holding_lock)
        if observed.info.state.active:
            raise OperationInvalidError(f"domain '{domain.name}' is already active")
        existing = self.ops.find_defined(domain.name)
        if existing is not None and existing.uuid != domain.uuid:
            raise MigrationFailedError(
                f"domain '{domain.name}' is already defined with uuid {existing.uuid}")

    def _need(self) -> tuple[Monitor, Domain]:
        if self.monitor is None or self.domain is None:
            raise MigrationFailedError("no incoming migration was prepared")
        return self.monitor, self.domain

    async def _wait_incoming(self, timeout: float, begin_within: float | None = None) -> str:
        """The incoming migration's final status, or its status after *timeout* s (or
        after *begin_within* s when it has not begun by then)."""
        mon, _domain = self._need()
        assert self.stream is not None
        now = asyncio.get_running_loop().time
        deadline = now() + timeout
        begin_by = now() + begin_within if begin_within is not None else deadline
        status = (await mon.query_migrate()).status
        while status not in ("completed", "failed", "cancelled"):
            remaining = min(deadline, begin_by if status in _NOT_BEGUN else deadline) - now()
            if remaining <= 0:
                return status
            with contextlib.suppress(TimeoutError):
                event = await self.stream.next(min(remaining, 0.5))
                status = event.status or status
            status = (await mon.query_migrate()).status if status not in (
                "completed", "failed", "cancelled") else status
        self.completed = status == "completed"
        return status

    async def _resume(self) -> None:
        mon, domain = self._need()
        await mon.cont()
        self.resumed = True
        self.runtime.record_state(domain.name, StateInfo(DomainState.RUNNING, Reason.MIGRATED))

    async def _wait_replug(self, expected: set[str]) -> list[Any]:
        """Pair status once every expected primary is plugged again (or the timeout)."""
        mon, _domain = self._need()
        assert self.live is not None
        deadline = asyncio.get_running_loop().time() + REPLUG_TIMEOUT
        while True:
            pairs = list(await failover_status(mon, self.live))
            plugged = {p.transient for p in pairs if p.plugged}
            if expected <= plugged or asyncio.get_running_loop().time() > deadline:
                return pairs
            await asyncio.sleep(0.1)

    async def on_channel_lost(self) -> None:
        """The source pyvirt went away. Its QEMU does not: a migration in flight still
        ends on its own, and if it completes the source copy is stopped for good (the
        next source command finds it in 'postmigrate'). So wait for the end of the
        incoming stream, and keep the guest here exactly when it arrived completely."""
        if self.monitor is None or self.domain is None or self.resumed:
            return
        with contextlib.suppress(PyvirtError):
            if await self._wait_incoming(LOST_CHANNEL_GRACE,
                                         begin_within=UNSTARTED_GRACE) == "completed":
                await self._resume()
                return
        await self.abort()

    async def close(self) -> None:
        await self.exits.aclose()
        if self.lock is not None:
            self.lock.release()


def available_memory_kib() -> int:
    """This host's MemAvailable (what the kernel can give without swapping), in KiB."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


async def serve(ops: DomainOps) -> int:
    """Answer requests on stdin/stdout until ``bye`` or end of input, for an incoming
    migration into the domains of *ops*."""
    agent = DestinationAgent(ops)
    loop = asyncio.get_running_loop()
    out = sys.stdout.buffer
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.buffer.readline)
            if not line:
                await agent.on_channel_lost()
                return 0
            request = decode(line)
            op, args = request.get("op"), request.get("args") or {}
            try:
                if op == "hello":
                    result: dict[str, Any] = {"version": PROTOCOL_VERSION}
                elif op == "prepare":
                    result = await agent.prepare(str(args["xml"]), bool(args["persistent"]),
                                                 str(args["listen"]))
                elif op == "check":
                    result = await agent.check(str(args["xml"]), int(args["reserved_kib"]),
                                               [str(t) for t in args.get("taken", [])])
                elif op == "finish":
                    result = await agent.finish(float(args["wait"]),
                                                list(args.get("expect_plugged", [])),
                                                args.get("stats"))
                elif op == "abort":
                    result = await agent.abort()
                elif op == "bye":
                    out.write(encode({"ok": True, "result": {}}))
                    out.flush()
                    return 0
                else:
                    raise MigrationFailedError(f"unknown request '{op}'")
                answer: dict[str, Any] = {"ok": True, "result": result}
            except PyvirtError as err:
                if op == "prepare":
                    await agent.abort()
                answer = {"ok": False, "error": to_wire(err)}
            except (KeyError, TypeError, ValueError) as err:
                bad = MigrationFailedError(f"bad request '{op}': {err}")
                answer = {"ok": False, "error": to_wire(bad)}
            out.write(encode(answer))
            out.flush()
    finally:
        await agent.close()
