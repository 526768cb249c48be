"""QEMU processes: spawn detached, recognise later, detect exit, kill.

A QEMU outlives the pyvirt command that started it (its own session, stdio on the log
file). Later commands know it by pid *and* start time (``/proc/PID/stat`` field 22), so
a recycled pid is never mistaken for the guest. Exit is detected through a pidfd or the
process state, so a zombie waiting for a slow reaper already counts as gone.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import select
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyvirt.errors import ProcessError

_LOG_TAIL_BYTES = 4000


@dataclass(frozen=True)
class ProcessId:
    """A process identity that survives pid reuse."""

    pid: int
    start_time: int

    def alive(self) -> bool:
        """True while the process runs (a zombie or a recycled pid is not alive)."""
        stat = _read_stat(self.pid)
        return stat is not None and stat[1] == self.start_time and stat[0] not in "ZX"


def _read_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time) of *pid*, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # the command name may contain spaces
    return fields[0], int(fields[19])


def identify(pid: int) -> ProcessId | None:
    stat = _read_stat(pid)
    return ProcessId(pid, stat[1]) if stat else None


def uses_path(pid: int, path: Path) -> bool:
    """True when *path* appears in the command line of *pid* (our QEMU, not a stranger
    that inherited a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(path).encode() in cmdline


def find_by_option(option: str, value: str) -> ProcessId | None:
    """A live process whose command line has *option* followed by *value* (e.g.
    ``-pidfile PATH``; a scan of /proc, for the rare case of a QEMU that has not written
    its pidfile yet)."""
    wanted = [option.encode(), value.encode()]
    try:
        entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return None
    for name in entries:
        try:
            args = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(args[i:i + 2] == wanted for i in range(len(args) - 1)):
            ident = identify(int(name))
            if ident is not None and ident.alive():
                return ident
    return None


def spawn(argv: tuple[str, ...], log_path: Path, user: str | None = None,
          hand_over: tuple[Path, ...] = (), traverse: tuple[Path, ...] = (),
          cwd: Path | None = None, pass_fds: tuple[int, ...] = ()) -> ProcessId:
    """Start *argv* detached (new session, no stdin, stdout/stderr appended to *log_path*),
    as *user* when given, in the working directory *cwd* (default: ours). The
    descriptors *pass_fds* (tap and vhost-net fds) are inherited under the same numbers.

    QEMU runs with umask 0177, so whatever it creates (monitor socket, pidfile, serial
    files) is 0600. With *user*, the process gets that user's uid and primary gid and no
    supplementary groups (as libvirt's DAC driver); *log_path* and every path in
    *hand_over* (the directory where QEMU creates its socket and pidfile) are chowned to
    it, and every directory in *traverse* (the private directories above that one) gets
    the user's group with search permission only (0710: QEMU can pass through, not
    list, create or delete). Without *user*, *hand_over* and *traverse* are ignored.

    :raises ProcessError: when the binary cannot be executed at all, or *user* does not
        exist or cannot be handed its files.
    """
    account = _account(user, argv) if user is not None else None
    with open(log_path, "ab", buffering=0) as log:
        os.fchmod(log.fileno(), 0o600)
        if account is not None:
            _chown(account, argv, log_path, *hand_over)
            _grant_search(account, argv, *traverse)
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}: starting up\n".encode())
        log.write((" ".join(argv) + "\n").encode())
        ids: dict[str, Any] = {} if account is None else {
            "user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, close_fds=True, umask=0o177,
                                    cwd=cwd, pass_fds=pass_fds, **ids)
        except OSError as err:
            raise ProcessError(f"cannot execute {argv[0]}: {err.strerror}", argv) from err
    ident = identify(proc.pid)
    if ident is None:  # died (and was reaped) at once: only possible for us, its parent
        proc.wait()
        raise ProcessError(f"{argv[0]} exited at once", argv, proc.returncode,
                           log_tail(log_path))
    # The Popen object is dropped on purpose: the QEMU must outlive us. While we live,
    # reap() collects it if it dies, so it never lingers as our zombie.
    return ident


def _account(user: str, argv: tuple[str, ...]) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(user)
    except KeyError:
        raise ProcessError(f"cannot run {argv[0]} as user '{user}': no such user",
                           argv) from None


def _grant_search(account: pwd.struct_passwd, argv: tuple[str, ...], *dirs: Path) -> None:
    for directory in dirs:
        try:
            os.chown(directory, -1, account.pw_gid, follow_symlinks=False)
            os.chmod(directory, stat.S_IMODE(directory.lstat().st_mode) | stat.S_IXGRP)
        except OSError as err:
            raise ProcessError(f"cannot let user '{account.pw_name}' through '{directory}': "
                               f"{err.strerror}", argv) from err


def _chown(account: pwd.struct_passwd, argv: tuple[str, ...], *paths: Path) -> None:
    """Hand *paths* to *account* (owner and primary group); symlinks are not followed."""
    for path in paths:
        try:
            os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
        except OSError as err:
            raise ProcessError(f"cannot hand '{path}' to user '{account.pw_name}': "
                               f"{err.strerror}", argv) from err


def reap(ident: ProcessId) -> None:
    """Collect *ident* if it is our dead child (no-op otherwise)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(ident.pid, os.WNOHANG)


def wait_exit(ident: ProcessId, timeout: float) -> bool:
    """Wait up to *timeout* s for the process to exit; True when it has."""
    if not ident.alive():
        reap(ident)
        return True
    try:
        fd = os.pidfd_open(ident.pid)
    except (ProcessLookupError, OSError):
        return not ident.alive()
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while ident.alive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            poller.poll(min(remaining, 0.2) * 1000)
    finally:
        os.close(fd)
    reap(ident)
    return True


def kill(ident: ProcessId, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after *grace* s; returns once the process is gone."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if not ident.alive():
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(ident.pid, sig)
        if wait_exit(ident, wait):
            break
    reap(ident)


def log_tail(log_path: Path, limit: int = _LOG_TAIL_BYTES) -> str:
    """The last lines QEMU wrote (its stderr), for error messages."""
    try:
        with open(log_path, "rb") as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - limit))
            return log.read().decode(errors="replace")
    except OSError:
        return ""


def last_error_line(log_path: Path) -> str:
    """The most telling line of QEMU's stderr tail (its last non-empty line)."""
    lines = [ln.strip() for ln in log_tail(log_path).splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
