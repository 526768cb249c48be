"""How the source reaches the destination's pyvirt: a local subprocess for a local
destination URI, OpenSSH for ``qemu+ssh://``. QEMU's own stream goes over TCP."""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass

from pyvirt.errors import MigrationFailedError
from pyvirt.migration.protocol import MAX_LINE, Channel
from pyvirt.store.roots import ConnectUri

REMOTE_COMMAND_ENV = "PYVIRT_REMOTE_COMMAND"  # the pyvirt to run on an ssh destination


def ssh_argv(dest: ConnectUri, args: list[str]) -> list[str]:
    """OpenSSH running the remote pyvirt (``?command=``, else $PYVIRT_REMOTE_COMMAND,
    else ``pyvirt``) with ``-c`` the URI's local form and then ``args``, quoted for the
    remote shell. Never prompts (BatchMode): a missing key is an error, not a question."""
    remote = dest.command or os.environ.get(REMOTE_COMMAND_ENV, "pyvirt")
    target = f"{dest.user}@{dest.host}" if dest.user else str(dest.host)
    ssh = ["ssh", "-o", "BatchMode=yes", "-T", "-e", "none"]
    if dest.port:
        ssh += ["-p", str(dest.port)]
    if dest.keyfile:
        ssh += ["-i", dest.keyfile]
    if dest.known_hosts:
        ssh += ["-o", f"UserKnownHostsFile={dest.known_hosts}"]
    if dest.no_verify:
        ssh += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR"]
    command = " ".join([shlex.quote(remote), "-c", shlex.quote(dest.local_form()),
                        *map(shlex.quote, args)])
    return [*ssh, "--", target, command]


def agent_argv(dest: ConnectUri) -> list[str]:
    """The command that runs ``migrate-agent`` for *dest*."""
    if not dest.is_remote:
        return [sys.executable, "-m", "pyvirt.cli", "-c", dest.text, "migrate-agent"]
    return ssh_argv(dest, ["migrate-agent"])


def migration_host(dest: ConnectUri) -> str:
    """Where the source QEMU sends the guest: the destination host, or loopback."""
    return dest.host if dest.is_remote and dest.host else "127.0.0.1"


@dataclass
class Agent:
    """A running agent process and the channel to it."""

    process: subprocess.Popen[bytes]
    channel: Channel
    stderr_task: asyncio.Task[None]

    async def close(self, timeout: float = 10.0) -> None:
        """Close the channel (the agent ends on EOF) and reap it, killing it after
        *timeout* s."""
        self.channel.close()
        if self.process.poll() is not None:
            return
        loop = asyncio.get_running_loop()
        gone = asyncio.Event()
        pidfd = os.pidfd_open(self.process.pid)  # readable once the process has exited
        loop.add_reader(pidfd, gone.set)
        try:
            await asyncio.wait_for(gone.wait(), timeout)
        except TimeoutError:
            self.process.kill()
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)
        self.process.wait()


def spawn_agent(dest: ConnectUri) -> subprocess.Popen[bytes]:
    """Start the agent for *dest* (synchronous and cheap: the CLI calls it first, so the
    agent's own start-up overlaps everything the source does before it needs it).

    :raises MigrationFailedError: when the agent cannot be started.
    """
    argv = agent_argv(dest)
    try:
        return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except OSError as err:
        raise MigrationFailedError(f"cannot run '{argv[0]}': {err.strerror}") from err


async def attach_agent(proc: subprocess.Popen[bytes]) -> Agent:
    """The channel to the agent *proc* (its pipes joined to this event loop)."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), proc.stdout)
    errors = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(errors), proc.stderr)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                        proc.stdin)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    stderr_tail: list[str] = []

    async def collect_stderr() -> None:
        async for raw in errors:
            stderr_tail.append(raw.decode(errors="replace").strip())
            del stderr_tail[:-5]

    task = loop.create_task(collect_stderr())
    channel = Channel(reader, writer,
                      describe_failure=lambda: "; ".join(s for s in stderr_tail if s))
    return Agent(proc, channel, task)


async def start_agent(dest: ConnectUri) -> Agent:
    """:raises MigrationFailedError: when the agent cannot be started."""
    return await attach_agent(spawn_agent(dest))
