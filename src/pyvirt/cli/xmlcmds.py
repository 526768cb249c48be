"""Commands that work on XML without running a guest: validate, domxml-to-native."""

from __future__ import annotations

import click

from pyvirt.cli.main import cli, connection, reports_errors
from pyvirt.domain.io import domain_to_xml
from pyvirt.errors import InvalidArgError
from pyvirt.service.convert import native_command, validate_file


@cli.command()
@click.option("--show-defaults", is_flag=True,
              help="Print the domain as define would store it (defaults, addresses).")
@click.argument("file", metavar="FILE")
@click.pass_context
@reports_errors
def validate(ctx: click.Context, file: str, show_defaults: bool) -> None:
    """Check a domain XML file against the schema and every rule (FILE or - for stdin)."""
    domain = validate_file(connection(ctx), file)
    if show_defaults:
        click.echo(domain_to_xml(domain), nl=False)
    else:
        click.echo(f"{file} validates")


@cli.command("domxml-to-native")
@click.argument("format_", metavar="FORMAT")
@click.argument("file", metavar="FILE", required=False)
@click.option("--domain", "domain_name", metavar="NAME",
              help="Convert a defined domain instead of a file.")
@click.pass_context
@reports_errors
def domxml_to_native(ctx: click.Context, format_: str, file: str | None,
                     domain_name: str | None) -> None:
    """Print the QEMU command line for a domain (FORMAT must be qemu-argv)."""
    if format_ != "qemu-argv":
        raise InvalidArgError(f"unsupported config type {format_}")
    if (file is None) == (domain_name is None):
        raise InvalidArgError("exactly one of FILE or --domain NAME is required")
    conn = connection(ctx)
    if domain_name is not None:
        from pyvirt.service.domains import DomainService

        domain = DomainService(conn).lookup(domain_name)  # the stored, prepared definition
    else:
        assert file is not None
        domain = validate_file(conn, file)
    click.echo(native_command(conn, domain).shell_quoted())
