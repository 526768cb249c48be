"""Host maintenance: ``evacuate``."""

from __future__ import annotations

import click

from pyvirt.cli.main import cli, connection, fail, reports_errors
from pyvirt.cli.table import render_table


@cli.command()
@click.option("--dry-run", is_flag=True, help="Show the plan and move nothing.")
@click.option("--parallel", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Migrations at once.")
@click.argument("dests", metavar="DESTURI...", nargs=-1, required=True)
@click.pass_context
@reports_errors
def evacuate(ctx: click.Context, dry_run: bool, parallel: int, dests: tuple[str, ...]) -> None:
    """Live-migrate every running guest of this host to DESTURI... (for maintenance).

    Checks first, before anything moves, that each destination can take each guest
    (the definition validates there, its name is free, memory, a free VF for a teamed
    guest); shows the plan; then migrates, PARALLEL at a time. A guest that cannot move
    stays running here; the exit status is 1 if any did.
    """
    from pyvirt.service.evacuate import plan_evacuation, run_evacuation

    conn = connection(ctx)
    moves = plan_evacuation(conn, list(dests))
    if not moves:
        click.echo("No running domains.")
        return
    click.echo(render_table(["Domain", "Memory", "Destination"], [
        [m.name, f"{m.memory_kib // 1024} MiB", m.dest or f"stays: {m.reason}"]
        for m in moves]))
    if dry_run:
        return
    outcomes = run_evacuation(conn, moves, parallel, lambda line: click.echo(line, err=True))
    moved = sum(1 for o in outcomes if o.moved)
    stayed = len(moves) - moved
    click.echo(f"\nEvacuated {moved} of {len(moves)} domains; {stayed} stayed on this host.")
    if stayed:
        why = [f"{m.name} ({m.reason})" for m in moves if m.dest is None]
        why += [f"{o.move.name} ({o.detail})" for o in outcomes if not o.moved]
        fail(f"{stayed} domain(s) could not be moved: {'; '.join(why)}")
