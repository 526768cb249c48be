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
from typing import NoReturn

import click

from pyvirt.errors import InvalidArgError, OperationFailedError
from pyvirt.store.roots import ConnectUri

#: Commands that act on this machine whatever the connection says.
LOCAL_ONLY = frozenset({"guest"})
#: Commands that only make sense on the host they run on (they are the far end of a link).
NEVER_REMOTE = frozenset({"migrate-agent", "api-agent"})


def takes_a_file(command: click.Command) -> bool:
    """Whether the command has a positional ``FILE`` argument (a file on this host)."""
    return any(isinstance(p, click.Argument) and p.name == "file" for p in command.params)


def _local_file(command: click.Command, args: list[str]) -> tuple[str, bytes] | None:
    """The local file the command's ``FILE`` argument names, and its bytes.

    :raises PyvirtError: when the file cannot be read (libvirt's wording, as locally).
    """
    from pyvirt.domain.xml.document import read_user_file

    if not takes_a_file(command):
        return None
    try:
        ctx = command.make_context(command.name, list(args), resilient_parsing=True)
    except click.ClickException:
        return None  # the remote side reports the usage error, in its words
    path = ctx.params.get("file")
    if not isinstance(path, str) or path == "-":
        return None
    return path, read_user_file(path)[0]


def forward(uri: ConnectUri, name: str, command: click.Command, args: list[str]) -> NoReturn:
    """Run ``name args`` on the URI's host and exit with its status.

    :raises PyvirtError: for a command that cannot run remotely, an unreadable local file,
        or a remote that cannot be reached or driven.
    """
    from pyvirt.migration.peer import PeerStderr, peer_argv

    if name in NEVER_REMOTE:
        raise InvalidArgError(f"'{name}' runs only on the host it serves, not through "
                              f"'{uri.text}'")
    local = _local_file(command, args)
    data = None if local is None else local[1]
    sent = [] if local is None else ["--stdin-as", local[0]]
    argv = peer_argv(uri, [*sent, name, *args])
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else None,
                                stderr=subprocess.PIPE)
    except OSError as err:
        raise OperationFailedError(f"cannot run ssh: {err.strerror}") from err
    assert proc.stderr is not None
    stderr = PeerStderr(proc.stderr, sys.stderr.buffer)
    if data is not None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(data)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the far end stopped reading: its status says why
    status = proc.wait()
    stderr.join()
    if not stderr.spoke.is_set():
        raise stderr.failure(uri, status)
    sys.exit(status)
