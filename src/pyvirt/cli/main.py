"""The ``pyvirt`` command: virsh's verbs and output shapes.

Only this layer turns errors into messages and exit codes: one ``error: ...`` line on
stderr and exit status 1, never a traceback (set PYVIRT_DEBUG=1 to see one).
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pyvirt.errors import PyvirtError

if TYPE_CHECKING:
    from pyvirt.service.context import Context

F = TypeVar("F", bound=Callable[..., Any])

#: Which module of pyvirt.cli defines each command. A command imports only its own
#: module (and what that needs), which is most of a short command's start-up time;
#: tests/unit/test_cli_lazy.py keeps this table equal to what the modules register.
COMMAND_MODULES: dict[str, str] = {
    **dict.fromkeys(("define", "undefine", "list", "dumpxml", "start", "shutdown",
                     "destroy", "suspend", "resume", "domstate", "dominfo", "domiflist",
                     "domfailover", "autostart", "reboot", "reset"), "domcmds"),
    **dict.fromkeys(("attach-device", "detach-device", "detach-device-alias",
                     "update-device", "domif-setlink", "domif-getlink"), "devcmds"),
    **dict.fromkeys(("migrate", "domjobinfo", "domjobabort", "migrate-agent"), "migcmds"),
    **dict.fromkeys(("validate", "domxml-to-native"), "xmlcmds"),
    **dict.fromkeys(("nodedev-detach", "nodedev-reattach", "net-define", "net-undefine",
                     "net-start", "net-destroy", "net-list", "net-dumpxml"), "hostcmds"),
    "evacuate": "fleetcmds",
    "api-agent": "agentcmds",
    "guest": "guestcmds",
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is wanted."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | COMMAND_MODULES.keys())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"pyvirt.cli.{module}")  # its decorators register it
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        """A command for a ``qemu+ssh://`` connection runs on that host
        (:mod:`pyvirt.cli.remote`); this is where the command and its arguments are
        known and nothing has run yet."""
        name, command, rest = super().resolve_command(ctx, args)
        peer = ctx.params.get("peer_protocol")
        if peer is not None:
            _answer_peer(peer, ctx.params.get("stdin_as"))
        uri = ctx.params.get("uri") or os.environ.get("PYVIRT_DEFAULT_URI") or ""
        if name is not None and command is not None and uri.startswith("qemu+"):
            _forward(uri, name, command, rest)
        return name, command, rest


def fail(message: str) -> None:
    """One ``error:`` line: line breaks a message quotes from the input are escaped, so a
    value can never forge a second line."""
    one_line = message.replace("\n", "\\n").replace("\r", "\\r")
    click.echo(f"error: {one_line}", err=True)
    sys.exit(1)


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: Any = None, line: str | None = None) -> None:
    """pyvirt's own warnings (an unknown element dropped ...): one ``warning:`` line."""
    if category.__module__.startswith("pyvirt."):
        sys.stderr.write(f"warning: {message}\n")
    else:
        _PYTHON_SHOWWARNING(message, category, filename, lineno, file, line)


_PYTHON_SHOWWARNING = warnings.showwarning


def reports_errors(func: F) -> F:
    """Turn every failure of a command into one ``error:`` line and exit status 1;
    pyvirt's warnings are one ``warning:`` line each."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        warnings.showwarning = _show_warning
        try:
            return func(*args, **kwargs)
        except PyvirtError as err:
            fail(str(err))
        except KeyboardInterrupt:
            fail("interrupted")
        except Exception as err:  # a bug: still one line, unless debugging
            if os.environ.get("PYVIRT_DEBUG"):
                raise
            fail(f"internal error: {type(err).__name__}: {err}")
        return None

    return wrapper  # type: ignore[return-value]


def _answer_peer(protocol: int, stdin_as: str | None) -> None:
    """Driven by another pyvirt over ssh: say so first, then check we speak alike; the
    caller's file (if any) is our standard input."""
    from pyvirt.domain.xml.document import read_stdin_as
    from pyvirt.migration.peer import MARKER, PEER_PROTOCOL

    sys.stderr.write(f"{MARKER.decode()}{PEER_PROTOCOL}\n")
    sys.stderr.flush()
    if protocol != PEER_PROTOCOL:
        fail(f"this pyvirt speaks peer protocol {PEER_PROTOCOL}, the caller {protocol}: "
             "install the same pyvirt release on both hosts")
    if stdin_as is not None:
        read_stdin_as(stdin_as)


def _forward(uri: str, name: str, command: click.Command, args: list[str]) -> None:
    from pyvirt.cli.remote import LOCAL_ONLY, forward
    from pyvirt.store.roots import parse_uri

    if name in LOCAL_ONLY:
        return
    try:
        forward(parse_uri(uri), name, command, args)
    except PyvirtError as err:
        fail(str(err))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--connect", "uri", metavar="URI",
              help="Connection URI (default: $PYVIRT_DEFAULT_URI, else qemu:///system); "
              "qemu+ssh://[USER@]HOST[:PORT]/system runs the command on HOST.")
@click.option("--peer-protocol", type=int, hidden=True)
@click.option("--stdin-as", hidden=True)
@click.pass_context
def cli(ctx: click.Context, uri: str | None, peer_protocol: int | None,
        stdin_as: str | None) -> None:
    """pyvirt: run libvirt-style QEMU guests, with NIC teaming (virtio-net failover)."""
    ctx.obj = uri


def connection(ctx: click.Context) -> Context:
    """The local connection named by ``-c`` (opened lazily, so --help needs none)."""
    from pyvirt.service.context import Context
    from pyvirt.store.roots import choose_uri

    uri: str | None = ctx.find_root().obj
    return Context.open(choose_uri(uri))


def main() -> None:
    try:
        cli.main(prog_name="pyvirt", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as err:
        fail(err.format_message())
    except click.exceptions.Abort:
        fail("aborted")
