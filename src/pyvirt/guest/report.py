"""The demo guest's own reports (``PYVIRT-GUEST ...`` lines on its serial console).

The demo and the end-to-end tests judge failover from inside the guest with these, not
from QEMU's view.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(
    r"PYVIRT-GUEST uptime=(?P<uptime>\d+(?:\.\d+)?) master=(?P<master>\S+) mac=(?P<mac>\S+)"
    r" standby=(?P<standby>\S+) primary=(?P<primary>\S+)"
    r" primary_driver=(?P<primary_driver>\S+)"
    r" probe_sent=(?P<probe_sent>\d+) probe_ok=(?P<probe_ok>\d+)")


def _opt(value: str) -> str | None:
    return None if value == "-" else value


@dataclass(frozen=True)
class GuestReport:
    uptime: float
    master: str | None
    mac: str | None
    standby: str | None
    primary: str | None
    primary_driver: str | None
    probe_sent: int
    probe_ok: int

    @property
    def bonded(self) -> bool:
        """A failover master with both its standby and a primary."""
        return bool(self.master and self.standby and self.primary)

    def line(self) -> str:
        dash = "-"
        return (f"master={self.master or dash} standby={self.standby or dash} "
                f"primary={self.primary or dash} ({self.primary_driver or dash}) "
                f"probe {self.probe_ok}/{self.probe_sent}")


def parse_reports(text: str) -> list[GuestReport]:
    reports = []
    for m in _LINE.finditer(text):
        g = m.groupdict()
        reports.append(GuestReport(
            float(g["uptime"]), _opt(g["master"]), _opt(g["mac"]), _opt(g["standby"]),
            _opt(g["primary"]), _opt(g["primary_driver"]), int(g["probe_sent"]),
            int(g["probe_ok"])))
    return reports


class SerialLog:
    """Follows a serial log file from a starting offset (a log may hold earlier boots)."""

    def __init__(self, path: Path, from_end: bool = True) -> None:
        self.path = path
        self.offset = path.stat().st_size if from_end and path.exists() else 0

    def text(self) -> str:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def reports(self) -> list[GuestReport]:
        return parse_reports(self.text())

    def latest(self) -> GuestReport | None:
        reports = self.reports()
        return reports[-1] if reports else None

    def wait_for(self, predicate: Callable[[GuestReport], bool], timeout: float,
                 poll: float = 0.1) -> GuestReport | None:
        """The first new report satisfying *predicate*, or None after *timeout* s."""
        deadline = time.monotonic() + timeout
        while True:
            for report in self.reports():
                if predicate(report):
                    return report
            if time.monotonic() >= deadline:
                return None
            time.sleep(poll)

    def mark(self) -> None:
        """Only look at what is written from now on."""
        self.offset = self.path.stat().st_size if self.path.exists() else 0
