"""Per-domain locks that serialise state changes across pyvirt processes.

``flock`` locks belong to an open file description, so the kernel drops them when the
holder dies: a killed pyvirt never leaves a lock that blocks the next command.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from pyvirt.errors import LockTimeoutError, SystemCallError
from pyvirt.store.atomic import ensure_dir


class DomainLock:
    """An exclusive lock on one domain name, held for the duration of a ``with`` block.

    The holder writes ``pid job`` into the lock file so a loser can say who holds it.
    """

    def __init__(self, lock_dir: Path, name: str, job: str, timeout: float = 30.0) -> None:
        self.path = lock_dir / f"{name}.lock"
        self.job = job
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        """:raises LockTimeoutError: when another process holds it past the timeout."""
        ensure_dir(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as err:  # e.g. a name longer than the file system allows
            raise SystemCallError(f"cannot open lock file '{self.path}': "
                                  f"{err.strerror}") from err
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = self._holder(fd)
                    os.close(fd)
                    raise LockTimeoutError(
                        f"cannot acquire state change lock (held by {holder})") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.job}\n".encode(), 0)
        self._fd = fd

    @staticmethod
    def _holder(fd: int) -> str:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
        pid, _, job = text.partition(" ")
        return f"pid {pid}: {job}" if pid else "another pyvirt command"

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> DomainLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
