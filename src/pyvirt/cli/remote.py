"""``pyvirt -c qemu+ssh://HOST/... COMMAND``: the command runs on HOST, through OpenSSH.

pyvirt has no daemon, so a remote connection is the remote pyvirt itself: one ssh
connection runs ``pyvirt -c LOCAL-FORM --peer-protocol N COMMAND ARGS`` there, with the
same output, errors and exit status as on that host. A ``FILE`` argument names a file
here: it travels as the remote command's standard input, which the remote pyvirt reads
for that path (``--stdin-as``), so messages name the file as they would here.

The remote pyvirt first writes one line, ``PYVIRT-PEER N``, to standard error. Whatever
standard error carries before it comes from ssh or the remote shell, and is turned into
one ``error:`` line here: an unreachable host or a refused key (ssh's status 255), a host
without pyvirt (status 127), or a pyvirt that does not speak protocol N.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import IO, NoReturn

import click

from pyvirt.errors import InvalidArgError, OperationFailedError, PyvirtError
from pyvirt.store.roots import ConnectUri

#: What a pyvirt must understand to be driven from here; the remote checks it is its own.
PEER_PROTOCOL = 1
MARKER = b"PYVIRT-PEER "
#: Commands that act on this machine whatever the connection says.
LOCAL_ONLY = frozenset({"guest"})
#: Commands that only make sense on the host they run on (they are the far end of a link).
NEVER_REMOTE = frozenset({"migrate-agent", "api-agent"})


def file_arguments(command: click.Command) -> list[int]:
    """Positions, among the command's positional arguments, of those naming a local
    file (declared as ``FILE``)."""
    args = [p for p in command.params if isinstance(p, click.Argument)]
    return [i for i, p in enumerate(args) if p.name == "file"]


def _local_file(command: click.Command, args: list[str]) -> tuple[str, bytes] | None:
    """The local file the command's ``FILE`` argument names, and its bytes.

    :raises PyvirtError: when the file cannot be read (libvirt's wording, as locally).
    """
    from pyvirt.domain.xml.document import read_user_file

    if not file_arguments(command):
        return None
    try:
        ctx = command.make_context(command.name, list(args), resilient_parsing=True)
    except click.ClickException:
        return None  # the remote side reports the usage error, in its words
    path = ctx.params.get("file")
    if not isinstance(path, str) or path == "-":
        return None
    return path, read_user_file(path)[0]


def _pump(source: IO[bytes], sink: IO[bytes], seen: threading.Event,
          early: list[bytes]) -> None:
    """Copy the remote's standard error here, holding back what precedes the marker."""
    for line in source:
        if seen.is_set():
            sink.write(line)
            sink.flush()
        elif line.startswith(MARKER):
            seen.set()
        else:
            early.append(line)


def _failure(uri: ConnectUri, status: int, early: list[bytes]) -> PyvirtError:
    said = " ".join(b.decode(errors="replace").strip() for b in early[-2:]).strip()
    where = uri.host or "?"
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


def forward(uri: ConnectUri, name: str, command: click.Command, args: list[str]) -> NoReturn:
    """Run ``name args`` on the URI's host and exit with its status.

    :raises PyvirtError: for a command that cannot run remotely, an unreadable local file,
        or a remote that cannot be reached or driven.
    """
    from pyvirt.migration.transport import ssh_argv

    if name in NEVER_REMOTE:
        raise InvalidArgError(f"'{name}' runs only on the host it serves, not through "
                              f"'{uri.text}'")
    local = _local_file(command, args)
    data = None if local is None else local[1]
    sent = [] if local is None else ["--stdin-as", local[0]]
    argv = ssh_argv(uri, ["--peer-protocol", str(PEER_PROTOCOL), *sent, name, *args])
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else None,
                                stderr=subprocess.PIPE)
    except OSError as err:
        raise OperationFailedError(f"cannot run ssh: {err.strerror}") from err
    seen = threading.Event()
    early: list[bytes] = []
    assert proc.stderr is not None
    pump = threading.Thread(target=_pump, args=(proc.stderr, sys.stderr.buffer, seen, early),
                            daemon=True)
    pump.start()
    if data is not None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(data)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the far end stopped reading: its status says why
    status = proc.wait()
    pump.join(timeout=5)
    if not seen.is_set():
        raise _failure(uri, status, early)
    sys.exit(status)
