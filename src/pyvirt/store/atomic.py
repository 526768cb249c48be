"""Crash-safe file writes: a reader sees the old content or the new, never a mix."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from pyvirt.errors import SystemCallError


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    """Create *path* and every missing parent with *mode* (``Path.mkdir(parents=True)``
    would give the parents the umask's default, e.g. 0755); existing directories are
    left as they are. :raises SystemCallError: on failure."""
    try:
        missing = []
        parent = path
        while not parent.is_dir() and parent != parent.parent:
            missing.append(parent)
            parent = parent.parent
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):  # a concurrent pyvirt made it
                directory.mkdir(mode=mode)
        if not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    except OSError as err:
        raise SystemCallError(f"cannot create directory '{path}': {err.strerror}") from err
    return path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Write *data* to *path*: temp file in the same directory, fsync, rename, fsync dir.

    :raises SystemCallError: when the directory is not writable or the disk is full.
    """
    raw = data.encode() if isinstance(data, str) else data
    ensure_dir(path.parent)
    tmp_name = None
    try:
        import tempfile  # only a write needs it: read-only commands skip its import

        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
        fsync_dir(path.parent)
    except OSError as err:
        raise SystemCallError(f"cannot write '{path}': {err.strerror}") from err
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def remove_file(path: Path) -> None:
    """Delete *path* if present, durably. :raises SystemCallError: on other failures."""
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as err:
        raise SystemCallError(f"cannot remove '{path}': {err.strerror}") from err
    fsync_dir(path.parent)
