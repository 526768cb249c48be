"""Driving another host's pyvirt over ssh (CLI commands, API calls): the peer protocol.

The far pyvirt, run as ``pyvirt -c LOCAL --peer-protocol N ...``, first writes one line,
``PYVIRT-PEER N``, to standard error. Whatever standard error carries before it comes from
ssh or the remote shell; :class:`PeerStderr` holds it back and, if the far side never
spoke, turns it into one error: unreachable host or refused key (ssh's status 255), no
pyvirt there (127), or a pyvirt that does not speak protocol N.
"""

from __future__ import annotations

import threading
from typing import IO

from pyvirt.errors import OperationFailedError, PyvirtError
from pyvirt.migration.transport import ssh_argv
from pyvirt.store.roots import ConnectUri

#: What a pyvirt must understand to be driven from here; the far side checks it is its own.
PEER_PROTOCOL = 1
MARKER = b"PYVIRT-PEER "


def peer_argv(uri: ConnectUri, args: list[str]) -> list[str]:
    """ssh running ``pyvirt --peer-protocol N ARGS`` on the URI's host."""
    return ssh_argv(uri, ["--peer-protocol", str(PEER_PROTOCOL), *args])


class PeerStderr:
    """Reads the far side's standard error in a thread: before the marker it is kept as
    evidence, after it copied to *sink* (or dropped when there is none)."""

    def __init__(self, source: IO[bytes], sink: IO[bytes] | None = None) -> None:
        self.spoke = threading.Event()
        self._early: list[bytes] = []
        self._sink = sink
        self._thread = threading.Thread(target=self._pump, args=(source,), daemon=True)
        self._thread.start()

    def _pump(self, source: IO[bytes]) -> None:
        for line in source:
            if self.spoke.is_set():
                if self._sink is not None:
                    self._sink.write(line)
                    self._sink.flush()
            elif line.startswith(MARKER):
                self.spoke.set()
            else:
                self._early.append(line)

    def join(self, timeout: float = 5) -> None:
        self._thread.join(timeout)

    def failure(self, uri: ConnectUri, status: int) -> PyvirtError:
        """Why the far side ended with *status*, in one line."""
        said = " ".join(b.decode(errors="replace").strip() for b in self._early[-2:]).strip()
        where = uri.host or "?"
        if self.spoke.is_set():
            return OperationFailedError(f"the pyvirt on '{where}' ended the connection "
                                        f"(exit status {status}) {said}".rstrip())
        if status == 255:
            return OperationFailedError(f"cannot reach pyvirt on '{where}' over ssh: "
                                        f"{said or 'ssh failed'}")
        if status == 127:
            return OperationFailedError(
                f"pyvirt is not installed on '{where}' (or not on the remote PATH): "
                f"{said or 'command not found'}; name it with ?command= in the URI")
        return OperationFailedError(
            f"the pyvirt on '{where}' cannot be driven from this one (it does not speak "
            f"pyvirt peer protocol {PEER_PROTOCOL}): {said or f'exit status {status}'}")
