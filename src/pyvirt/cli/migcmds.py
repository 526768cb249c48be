"""Migration commands: migrate, domjobinfo, domjobabort (and the hidden migrate-agent)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pyvirt.cli.main import cli, connection, reports_errors
from pyvirt.cli.table import render_pairs
from pyvirt.migration.job import JobStats


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 1048576:.3f} MiB"


def _ms(value: int | None) -> str:
    return "-" if value is None else f"{value} ms"


def job_lines(stats: JobStats | None, completed: bool) -> str:
    if stats is None:
        return render_pairs([("Job type", "None")])
    kind = "Completed" if completed and stats.phase == "completed" else \
        "Failed" if completed and stats.phase != "completed" else "Unbounded"
    operation = "Incoming migration" if stats.operation == "migration in" \
        else "Outgoing migration"
    pairs = [("Job type", kind), ("Operation", operation),
             ("Phase", stats.phase), ("Time elapsed", _ms(stats.total_ms or stats.elapsed_ms)),
             ("Memory processed", _mib(stats.ram_transferred)),
             ("Memory remaining", _mib(stats.ram_remaining)),
             ("Memory total", _mib(stats.ram_total)),
             ("Memory bandwidth", "-" if stats.mbps is None else f"{stats.mbps:.1f} Mbit/s"),
             ("Setup time", _ms(stats.setup_ms)), ("Wait-unplug time", _ms(stats.wait_unplug_ms)),
             ("Total downtime", _ms(stats.downtime_ms))]
    if stats.error:
        pairs.append(("Error", stats.error))
    return render_pairs(pairs)


@cli.command()
@click.option("--live", is_flag=True, help="Live migration (pyvirt always migrates live).")
@click.option("--verbose", is_flag=True, help="Show progress on stderr.")
@click.option("--persistent", is_flag=True, help="Define the domain on the destination.")
@click.option("--undefinesource", is_flag=True, help="Undefine the domain on the source.")
@click.option("--xml", "xml_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Definition to use on the destination (e.g. another VF address).")
@click.option("--unplug-timeout", default=30.0, show_default=True, metavar="S",
              help="Cancel if the guest has not released its primary within S s.")
@click.option("--timeout", "suspend_after", type=float, default=None, metavar="S",
              help="Pause the guest after S s so RAM transfer converges.")
@click.option("--bandwidth", type=int, default=None, metavar="MiB",
              help="Bandwidth limit in MiB/s.")
@click.argument("domain", metavar="DOMAIN")
@click.argument("desturi", metavar="DESTURI")
@click.argument("migrateuri", metavar="[MIGRATEURI]", required=False)
@click.pass_context
@reports_errors
def migrate(ctx: click.Context, domain: str, desturi: str, migrateuri: str | None, live: bool,
            verbose: bool, persistent: bool, undefinesource: bool, xml_file: Path | None,
            unplug_timeout: float, suspend_after: float | None, bandwidth: int | None) -> None:
    """Live-migrate DOMAIN to DESTURI (qemu:///embed?root=DIR or qemu+ssh://host/system)."""
    from pyvirt.migration.transport import spawn_agent
    from pyvirt.store.roots import parse_uri

    # the source connection is checked first (a remote -c is refused before any ssh);
    # then at once the destination's pyvirt starts up while this one does
    source = connection(ctx)
    agent = spawn_agent(parse_uri(desturi))
    try:
        from pyvirt.migration.source import MigrateOptions
        from pyvirt.service.migrate import migrate as do_migrate

        opts = MigrateOptions(
            persistent=persistent, undefine_source=undefinesource,
            xml=xml_file.read_text() if xml_file else None, unplug_timeout=unplug_timeout,
            suspend_after=suspend_after, bandwidth_mib=bandwidth, migrate_uri=migrateuri)
        view = None
        if verbose:  # rich only when it shows something
            from pyvirt.migration.progress import ProgressView

            view = ProgressView()
        try:
            result = do_migrate(source, domain, desturi, opts,
                                view.update if view else None, agent)
        finally:
            if view:
                view.close()
    finally:
        if agent.poll() is None:  # never used (refused before): it only waits for input
            agent.kill()
            agent.wait()
    for note in result.notes:
        click.echo(f"warning: {note}", err=True)


@cli.command()
@click.option("--completed", is_flag=True, help="Statistics of the last finished job.")
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def domjobinfo(ctx: click.Context, domain: str, completed: bool) -> None:
    """Show the running (or, with --completed, the last) migration job."""
    from pyvirt.service.migrate import job_info

    click.echo(job_lines(job_info(connection(ctx), domain, completed), completed), nl=False)


@cli.command()
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def domjobabort(ctx: click.Context, domain: str) -> None:
    """Cancel the running migration; the guest stays (with its primary) on the source."""
    from pyvirt.service.migrate import abort_job

    abort_job(connection(ctx), domain)


@cli.command("migrate-agent", hidden=True)
@click.pass_context
@reports_errors
def migrate_agent(ctx: click.Context) -> None:
    """Destination side of a migration (JSON lines on stdin/stdout)."""
    from pyvirt.service.migrate import run_agent

    sys.exit(run_agent(connection(ctx)))  # SystemExit passes reports_errors untouched
