"""How the source reaches the destination's pyvirt: a local subprocess for a local
destination URI, OpenSSH for ``qemu+ssh://``. QEMU's own stream goes over TCP."""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from dataclasses import dataclass

from pyvirt.errors import MigrationFailedError
from pyvirt.migration.protocol import MAX_LINE, Channel
from pyvirt.store.roots import ConnectUri

REMOTE_COMMAND_ENV = "PYVIRT_REMOTE_COMMAND"  # the pyvirt to run on an ssh destination


def agent_argv(dest: ConnectUri) -> list[str]:
    """The command that runs ``migrate-agent`` for *dest*."""
    if not dest.is_remote:
        return [sys.executable, "-m", "pyvirt.cli", "-c", dest.text, "migrate-agent"]
    remote = os.environ.get(REMOTE_COMMAND_ENV, "pyvirt")
    target = f"{dest.user}@{dest.host}" if dest.user else str(dest.host)
    ssh = ["ssh", "-o", "BatchMode=yes", "-T"]
    if dest.port:
        ssh += ["-p", str(dest.port)]
    if dest.keyfile:
        ssh += ["-i", dest.keyfile]
    if dest.no_verify:
        ssh += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR"]
    command = f"{remote} -c {shlex.quote(dest.local_form())} migrate-agent"
    return [*ssh, target, command]


def migration_host(dest: ConnectUri) -> str:
    """Where the source QEMU sends the guest: the destination host, or loopback."""
    return dest.host if dest.is_remote and dest.host else "127.0.0.1"


@dataclass
class Agent:
    """A running agent process and the channel to it."""

    process: asyncio.subprocess.Process
    channel: Channel
    stderr_task: asyncio.Task[None]

    async def close(self, timeout: float = 10.0) -> None:
        self.channel.close()
        try:
            async with asyncio.timeout(timeout):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def start_agent(dest: ConnectUri) -> Agent:
    """:raises MigrationFailedError: when the agent cannot be started."""
    argv = agent_argv(dest)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, limit=MAX_LINE)
    except OSError as err:
        raise MigrationFailedError(f"cannot run '{argv[0]}': {err.strerror}") from err
    assert proc.stdin is not None and proc.stdout is not None
    stderr_tail: list[str] = []

    async def collect_stderr() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            stderr_tail.append(raw.decode(errors="replace").strip())
            del stderr_tail[:-5]

    task = asyncio.get_running_loop().create_task(collect_stderr())
    channel = Channel(proc.stdout, proc.stdin,
                      describe_failure=lambda: "; ".join(s for s in stderr_tail if s))
    return Agent(proc, channel, task)
