"""The per-domain run directory: status record, live XML, monitor socket, pidfile.

The status record is what lets a later pyvirt command find and trust a running QEMU
without a daemon. It is written atomically; a missing or damaged one means "not
running" once the process it named is gone.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from pyvirt.runtime.process import ProcessId
from pyvirt.runtime.state import DomainState, Reason, StateInfo
from pyvirt.store.atomic import ensure_dir, remove_file, write_atomic


@dataclass(frozen=True)
class RuntimeStatus:
    """What pyvirt recorded about a running QEMU."""

    pid: int
    start_time: int
    state: str  # DomainState name
    reason: str  # Reason value
    uuid: str
    domid: int = 0

    @property
    def process(self) -> ProcessId:
        return ProcessId(self.pid, self.start_time)

    @property
    def info(self) -> StateInfo:
        return StateInfo(DomainState[self.state], Reason(self.reason))

    def with_state(self, info: StateInfo) -> RuntimeStatus:
        return RuntimeStatus(self.pid, self.start_time, info.state.name, info.reason.value,
                             self.uuid, self.domid)


class RunDir:
    """Files of one domain under ``<run_dir>/domain-<name>/``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def status_file(self) -> Path:
        return self.path / "status.json"

    @property
    def live_xml(self) -> Path:
        return self.path / "live.xml"

    @property
    def definition(self) -> Path:
        """The definition the guest was started from (no runtime aliases, no host
        allocations): what a migration sends when the domain is not persistent."""
        return self.path / "definition.xml"

    @property
    def monitor(self) -> Path:
        return self.path / "monitor.sock"

    @property
    def pidfile(self) -> Path:
        return self.path / "qemu.pid"

    @property
    def last_state_file(self) -> Path:
        return self.path / "last-state.json"

    def create(self) -> None:
        ensure_dir(self.path)

    def read_status(self) -> RuntimeStatus | None:
        try:
            raw = json.loads(self.status_file.read_text())
            return RuntimeStatus(int(raw["pid"]), int(raw["start_time"]), str(raw["state"]),
                                 str(raw["reason"]), str(raw.get("uuid", "")),
                                 int(raw.get("domid", 0)))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write_status(self, status: RuntimeStatus) -> None:
        write_atomic(self.status_file, json.dumps(asdict(status)))

    def read_last_state(self) -> StateInfo:
        """How the domain last stopped (``shut off`` with a reason); default unknown."""
        try:
            raw = json.loads(self.last_state_file.read_text())
            return StateInfo(DomainState[raw["state"]], Reason(raw["reason"]))
        except (OSError, ValueError, KeyError, TypeError):
            return StateInfo(DomainState.SHUTOFF, Reason.UNKNOWN)

    def mark_stopped(self, reason: Reason) -> None:
        """Record the stop, then remove the files that describe a running guest."""
        self.create()
        write_atomic(self.last_state_file,
                     json.dumps({"state": DomainState.SHUTOFF.name, "reason": reason.value}))
        for path in (self.status_file, self.live_xml, self.definition, self.monitor,
                     self.pidfile, self.path / "pending-unplug.json"):
            remove_file(path)


def allocate_domid(run_root: Path) -> int:
    """The next domain id of this state root (libvirt numbers running domains 1, 2 ...).

    A counter file under an exclusive flock, so concurrent starts never share an id.
    """
    ensure_dir(run_root)
    fd = os.open(run_root / "next-domid", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, 32, 0).decode(errors="replace").strip()
        domid = int(raw) if raw.isdigit() else 1
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{domid + 1}\n".encode(), 0)
        return domid
    finally:
        os.close(fd)
