"""Unix socket paths of any length.

A socket address holds at most 107 bytes of path (``sun_path`` is 108 with its NUL), but
a run directory under a deep state root, for a domain with a long name, is longer. QEMU
is then given a path relative to its working directory, and a client reaches the socket
through a descriptor of its directory: ``/proc/self/fd/N/NAME`` is short, and the kernel
resolves it through the open directory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

SUN_PATH_MAX = 107  # bytes of path in a sockaddr_un, without the terminating NUL


def fits_sun_path(path: str | os.PathLike[str]) -> bool:
    """True when *path* can be given to ``bind``/``connect`` as it is."""
    return len(os.fsencode(path)) <= SUN_PATH_MAX


@contextlib.contextmanager
def connectable_path(path: str) -> Iterator[str]:
    """A path ``connect`` accepts for the socket at *path*: *path* itself when it fits,
    else ``/proc/self/fd/N/NAME`` with N an ``O_PATH`` descriptor of the socket's
    directory, open until the context ends (the connection outlives it).

    :raises OSError: when the directory cannot be opened.
    """
    if fits_sun_path(path):
        yield path
        return
    directory, name = os.path.split(path)
    fd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        os.close(fd)
