"""Live migration progress on stderr: a rich display on a terminal, plain lines otherwise.

Never shows 100 % before QEMU says ``completed``: while RAM is still moving the bar is
capped just below.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from pyvirt.migration.job import JobStats

_CAP = 99.0


def describe(stats: JobStats) -> str:
    """One line: phase, then what matters in that phase."""
    if stats.phase == "wait-unplug":
        return "wait-unplug: waiting for the guest to release its passthrough NIC"
    if stats.phase == "active" and stats.ram_percent is not None:
        rate = f", {stats.mbps:.0f} Mbit/s" if stats.mbps else ""
        return f"active: RAM {min(stats.ram_percent, _CAP):.0f}%{rate}"
    if stats.phase == "completed":
        return (f"completed in {stats.total_ms} ms (downtime {stats.downtime_ms} ms, "
                f"wait-unplug {stats.wait_unplug_ms or 0} ms)")
    if stats.error:
        return f"{stats.phase}: {stats.error}"
    return stats.phase


class ProgressView:
    """Shows job snapshots; call :meth:`update` for each, :meth:`close` at the end."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream)
        self._last_line = ""
        self._last_time = 0.0
        self._progress: Progress | None = None
        self._task: int | None = None
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]Migration[/bold]"), BarColumn(),
                TextColumn("{task.fields[phase]}"), TimeElapsedColumn(),
                console=self.console, transient=False)
            self._progress.start()
            self._task = self._progress.add_task("migrate", total=100, phase="setup")

    def update(self, stats: JobStats) -> None:
        line = describe(stats)
        if self._progress is not None and self._task is not None:
            done = 100.0 if stats.phase == "completed" else min(stats.ram_percent or 0, _CAP)
            self._progress.update(self._task, completed=done, phase=line)  # type: ignore[arg-type]
            return
        now = time.monotonic()
        phase_changed = line.split(":")[0] != self._last_line.split(":")[0]
        if phase_changed or now - self._last_time >= 1.0:
            self.stream.write(f"Migration: {line}\n")
            self.stream.flush()
            self._last_line, self._last_time = line, now

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
