"""Migration job statistics: what ``domjobinfo`` shows and ``domjobabort`` acts on.

The pyvirt process that drives a migration owns the only QMP connection, so it
publishes its view to ``job.json`` in the domain's run directory (atomically, a few
times a second) and finishes with ``job-completed.json``. ``domjobabort`` asks that
process to cancel by signal; the process does the cancel and the verification.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from pyvirt.errors import OperationInvalidError
from pyvirt.store.atomic import remove_file, write_atomic

ABORT_SIGNAL = signal.SIGUSR1
TERMINAL_PHASES = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class JobStats:
    """One snapshot of a migration job. Times are ms; sizes bytes."""

    operation: str
    phase: str
    pid: int
    elapsed_ms: int = 0
    setup_ms: int | None = None
    wait_unplug_ms: int | None = None
    downtime_ms: int | None = None
    total_ms: int | None = None
    ram_transferred: int | None = None
    ram_remaining: int | None = None
    ram_total: int | None = None
    mbps: float | None = None
    passes: int | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def ram_percent(self) -> float | None:
        if not self.ram_total or self.ram_remaining is None:
            return None
        return 100.0 * (self.ram_total - self.ram_remaining) / self.ram_total

    def evolve(self, **changes: object) -> JobStats:
        return replace(self, **changes)  # type: ignore[arg-type]


class JobFiles:
    """The job files of one domain's run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.active = run_dir / "job.json"
        self.completed = run_dir / "job-completed.json"

    def publish(self, stats: JobStats) -> None:
        write_atomic(self.active, json.dumps(asdict(stats)))

    def finish(self, stats: JobStats) -> None:
        write_atomic(self.completed, json.dumps(asdict(stats)))
        remove_file(self.active)

    @staticmethod
    def _read(path: Path) -> JobStats | None:
        try:
            return JobStats(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def read_active(self) -> JobStats | None:
        """The running job, if its driver is still alive (a stale file is ignored)."""
        stats = self._read(self.active)
        if stats is None or stats.finished or not _alive(stats.pid):
            return None
        return stats

    def read_completed(self) -> JobStats | None:
        return self._read(self.completed)

    def request_abort(self) -> JobStats:
        """Ask the driving process to cancel. :raises OperationInvalidError: if none."""
        stats = self.read_active()
        if stats is None:
            raise OperationInvalidError("no job is active on the domain")
        os.kill(stats.pid, ABORT_SIGNAL)
        return stats


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
