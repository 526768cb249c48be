"""``api-agent``: the far end of a remote API connection (not for people)."""

from __future__ import annotations

import sys

import click

from pyvirt.cli.main import cli, reports_errors


@cli.command("api-agent", hidden=True)
@click.pass_context
@reports_errors
def api_agent(ctx: click.Context) -> None:
    """Serve pyvirt.open('qemu+ssh://...') calls on standard input (JSON lines)."""
    from pyvirt.api_agent import serve
    from pyvirt.store.roots import choose_uri

    sys.exit(serve(choose_uri(ctx.find_root().obj)))
