"""The ``pyvirt`` command: virsh's verbs and output shapes.

Only this layer turns errors into messages and exit codes: one ``error: ...`` line on
stderr and exit status 1, never a traceback (set PYVIRT_DEBUG=1 to see one).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from pyvirt.errors import PyvirtError
from pyvirt.service.context import Context
from pyvirt.store.roots import choose_uri

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> None:
    """One ``error:`` line: line breaks a message quotes from the input are escaped, so a
    value can never forge a second line."""
    one_line = message.replace("\n", "\\n").replace("\r", "\\r")
    click.echo(f"error: {one_line}", err=True)
    sys.exit(1)


def reports_errors(func: F) -> F:
    """Turn every failure of a command into one ``error:`` line and exit status 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--connect", "uri", metavar="URI",
              help="Connection URI (default: $PYVIRT_DEFAULT_URI, else qemu:///system).")
@click.pass_context
def cli(ctx: click.Context, uri: str | None) -> None:
    """pyvirt: run libvirt-style QEMU guests, with NIC teaming (virtio-net failover)."""
    ctx.obj = uri


def connection(ctx: click.Context) -> Context:
    """The local connection named by ``-c`` (opened lazily, so --help needs none)."""
    uri: str | None = ctx.find_root().obj
    return Context.open(choose_uri(uri))


def main() -> None:
    from pyvirt.cli import devcmds, domcmds, guestcmds, hostcmds, migcmds, xmlcmds  # noqa: F401  (registers them)

    try:
        cli.main(prog_name="pyvirt", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as err:
        fail(err.format_message())
    except click.exceptions.Abort:
        fail("aborted")
