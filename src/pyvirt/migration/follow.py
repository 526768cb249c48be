"""Following one outgoing migration: QMP events plus ``query-migrate`` ticks.

``wait-unplug`` is an optional phase (QEMU skips it when no primary is plugged). Its
duration is measured here, from the MIGRATION events, and bounded by the unplug timeout:
QEMU itself would wait forever for a guest that never releases its primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pyvirt.migration.job import JobStats
from pyvirt.qmp.models import MigrationInfo
from pyvirt.qmp.monitor import EventStream, Monitor

TICK = 0.25
TERMINAL = frozenset({"completed", "failed", "cancelled"})


class CancelReason(StrEnum):
    CLIENT = "client"
    UNPLUG_TIMEOUT = "unplug-timeout"


@dataclass
class FollowState:
    phase: str = "setup"
    unplug_started: float | None = None  # monotonic, for the timeout
    unplug_stamp: float | None = None  # QEMU's event timestamp, for the measure
    wait_unplug_ms: int | None = None
    passes: int = 0
    unplug_requested: tuple[str, ...] = ()
    cancel: CancelReason | None = None
    suspended: bool = False
    last: MigrationInfo | None = None


@dataclass(frozen=True)
class FollowLimits:
    unplug_timeout: float
    suspend_after: float | None  # virsh --timeout: pause the guest so RAM converges


class Follower:
    """Drives the loop; :meth:`run` returns when QEMU reports a terminal status."""

    def __init__(self, monitor: Monitor, stream: EventStream, limits: FollowLimits,
                 abort: asyncio.Event, publish: Callable[[JobStats], None]) -> None:
        self.mon = monitor
        self.stream = stream
        self.limits = limits
        self.abort = abort
        self.publish = publish
        self.state = FollowState()
        self.started = time.monotonic()

    def _on_status(self, status: str, stamp: float) -> None:
        """A MIGRATION event. wait-unplug is timed with QEMU's own event timestamps,
        so the measure does not depend on when pyvirt got round to reading them."""
        st = self.state
        if status == "wait-unplug":
            st.unplug_started = time.monotonic()
            st.unplug_stamp = stamp
        elif st.unplug_stamp is not None and st.wait_unplug_ms is None:
            st.wait_unplug_ms = round((stamp - st.unplug_stamp) * 1000)
        if st.phase not in TERMINAL:
            st.phase = status

    async def _drain_events(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                event = await self.stream.next(remaining)
            except TimeoutError:
                return
            if event.name == "MIGRATION" and event.status:
                self._on_status(event.status, event.timestamp)
                if event.status in TERMINAL:
                    return
            elif event.name == "UNPLUG_PRIMARY" and event.device_id:
                self.state.unplug_requested += (event.device_id,)
            elif event.name == "MIGRATION_PASS" and event.pass_ is not None:
                self.state.passes = event.pass_

    def snapshot(self) -> JobStats:
        st, info = self.state, self.state.last
        wait_ms = st.wait_unplug_ms
        if st.phase == "wait-unplug" and st.unplug_started is not None \
                and wait_ms is None:
            wait_ms = round((time.monotonic() - st.unplug_started) * 1000)
        return JobStats(
            operation="migration out", phase=st.phase, pid=os.getpid(),
            elapsed_ms=round((time.monotonic() - self.started) * 1000),
            setup_ms=info.setup_time if info else None, wait_unplug_ms=wait_ms,
            downtime_ms=info.downtime if info else None,
            total_ms=info.total_time if info else None,
            ram_transferred=info.ram_transferred if info else None,
            ram_remaining=info.ram_remaining if info else None,
            ram_total=info.ram_total if info else None, mbps=info.mbps if info else None,
            passes=st.passes or None, error=info.error if info else None)

    async def _limits(self) -> None:
        st, now = self.state, time.monotonic()
        if st.cancel is None and self.abort.is_set():
            st.cancel = CancelReason.CLIENT
        elif st.cancel is None and st.phase == "wait-unplug" and st.unplug_started is not None \
                and now - st.unplug_started > self.limits.unplug_timeout:
            st.cancel = CancelReason.UNPLUG_TIMEOUT
        else:
            if self.limits.suspend_after is not None and not st.suspended \
                    and st.phase == "active" and now - self.started > self.limits.suspend_after:
                await self.mon.stop()
                st.suspended = True
            return
        with contextlib.suppress(Exception):
            await self.mon.migrate_cancel()

    async def run(self) -> JobStats:
        while True:
            await self._drain_events(TICK)
            info = await self.mon.query_migrate()
            self.state.last = info
            if info.status in TERMINAL and self.state.phase not in TERMINAL:
                await self._drain_events(0.05)  # the events that led here, for the timing
                self.state.phase = info.status
            if self.state.phase == "completed" and info.downtime is None:
                # QEMU fills in the final statistics just after it reports completed
                await asyncio.sleep(0.05)
                self.state.last = info = await self.mon.query_migrate()
            stats = self.snapshot()
            self.publish(stats)
            if self.state.phase in TERMINAL:
                return stats
            await self._limits()
