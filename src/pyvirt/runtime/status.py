"""The per-domain run directory: status record, live XML, and QEMU's own directory
with its monitor socket and pidfile.

The status record is what lets a later pyvirt command find and trust a running QEMU
without a daemon. It is written atomically; a missing or damaged one means "not
running" once the process it named is gone. pyvirt's records sit in the run directory
itself; QEMU writes only in ``qemu/`` below it, which is handed to ``qemu_user`` when
QEMU runs as another user, so a compromised QEMU cannot rewrite what pyvirt trusts.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from pyvirt.errors import SystemCallError
from pyvirt.qmp.unixpath import fits_sun_path
from pyvirt.runtime import process
from pyvirt.runtime.process import ProcessId
from pyvirt.runtime.state import DomainState, Reason, StateInfo
from pyvirt.store.atomic import ensure_dir, fsync_dir, remove_file, write_atomic
from pyvirt.store.locks import DomainLock
from pyvirt.store.roots import StateRoot


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
    """Files of one domain under ``<run_dir>/domain-<name>/``; QEMU's under ``qemu/``."""

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
    def qemu_dir(self) -> Path:
        """The only directory QEMU writes in (its socket and pidfile); QEMU's working
        directory."""
        return self.path / "qemu"

    @property
    def monitor(self) -> Path:
        return self.qemu_dir / "monitor.sock"

    @property
    def monitor_argument(self) -> Path:
        """The monitor socket as QEMU's command line names it: the absolute path, or,
        when that does not fit in a unix socket address (108 bytes with its NUL), the
        path relative to QEMU's working directory, :attr:`qemu_dir`.
        (:meth:`pyvirt.qmp.monitor.Monitor.connect` reaches a long path on its own.)"""
        if fits_sun_path(self.monitor):
            return self.monitor
        return self.monitor.relative_to(self.qemu_dir)

    @property
    def pidfile(self) -> Path:
        return self.qemu_dir / "qemu.pid"

    @property
    def last_state_file(self) -> Path:
        return self.path / "last-state.json"

    def create(self) -> None:
        ensure_dir(self.path)
        ensure_dir(self.qemu_dir)

    def pidfile_process(self) -> ProcessId | None:
        """The live QEMU named by the pidfile, if its command line names this pidfile
        (a recycled pid, or a pid written by someone else, is not ours). Before QEMU has
        written its pidfile (a start killed just after spawning it), the process whose
        command line names the pidfile: otherwise the next start would run a second
        QEMU beside it."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return process.find_by_option("-pidfile", str(self.pidfile)) \
                if self.qemu_dir.is_dir() else None
        except OSError:
            return None
        ident = process.identify(pid) if pid > 0 else None
        if ident is None or not ident.alive() or not process.uses_path(pid, self.pidfile):
            return None
        return ident

    def read_status(self) -> RuntimeStatus | None:
        try:
            raw = json.loads(self.status_file.read_text())
            status = RuntimeStatus(int(raw["pid"]), int(raw["start_time"]), str(raw["state"]),
                                   str(raw["reason"]), str(raw.get("uuid", "")),
                                   int(raw.get("domid", 0)))
            status.info  # noqa: B018  (a state or reason we never write: damaged)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return status

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
        """Record the stop, then remove the files that describe a running guest, and
        QEMU's directory with whatever QEMU left in it."""
        ensure_dir(self.path)
        write_atomic(self.last_state_file,
                     json.dumps({"state": DomainState.SHUTOFF.name, "reason": reason.value}))
        for path in (self.status_file, self.live_xml, self.definition,
                     self.path / "pending-unplug.json", *self._legacy_files):
            remove_file(path)
        remove_tree(self.qemu_dir)

    @property
    def _legacy_files(self) -> tuple[Path, ...]:
        """Where a QEMU started before QEMU had a directory of its own kept its files."""
        return self.path / "monitor.sock", self.path / "qemu.pid"


def remove_tree(path: Path) -> None:
    """Delete the directory *path* and its content if present, durably, without following
    symbolic links in it (what QEMU left there is not trusted).

    :raises SystemCallError: when something in it cannot be removed.
    """
    def failed(_function: object, name: str,
               exc_info: tuple[type[BaseException], BaseException, object]) -> None:
        err = exc_info[1]
        if not isinstance(err, FileNotFoundError):
            raise SystemCallError(f"cannot remove '{name}': "
                                  f"{getattr(err, 'strerror', None) or err}") from err

    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        remove_file(path)
        return
    shutil.rmtree(path, onerror=failed)
    fsync_dir(path.parent)


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


# --- a domain's places in a state root (shared by Runtime and the quick paths) -------

LOCK_TIMEOUT = 30.0


def domain_lock(root: StateRoot, name: str, job: str,
                timeout: float = LOCK_TIMEOUT) -> DomainLock:
    """The lock that serialises state changes of *name* (``run/.../locks/NAME.lock``)."""
    from pyvirt.store import locks  # looked up at call time (tests shorten the wait)

    return locks.DomainLock(root.run_dir / "locks", name, job, timeout)


def qemu_log(root: StateRoot, name: str) -> Path:
    return root.log_dir / f"{name}.log"


def is_quick_name(name: str) -> bool:
    """Whether the quick paths may take *name* as a domain's name as it is: not empty,
    no path, no dot name (a UUID or anything unusual goes the full way)."""
    return bool(name) and "/" not in name and not name.startswith(".")
