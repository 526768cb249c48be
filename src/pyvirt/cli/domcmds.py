"""Domain commands: define, undefine, list, dumpxml, start, shutdown, destroy, suspend,
resume, domstate, dominfo, domiflist, domfailover, autostart, reboot, reset."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from pyvirt.cli.main import cli, connection, reports_errors
from pyvirt.cli.table import render_pairs, render_table

if TYPE_CHECKING:  # imported where used: a quick ``start`` needs none of it
    from pyvirt.service.domains import DomainService


def service(ctx: click.Context) -> DomainService:
    from pyvirt.service.domains import DomainService

    return DomainService(connection(ctx))


@cli.command()
@click.argument("file", metavar="FILE")
@click.option("--validate", is_flag=True,
              help="Refuse elements libvirt's domain schema does not have (without it they "
                   "are dropped with a warning, as virsh define does).")
@click.pass_context
@reports_errors
def define(ctx: click.Context, file: str, validate: bool) -> None:
    """Define (but do not start) a domain from an XML file."""
    from contextlib import nullcontext

    from pyvirt.domain.xml.unknown import unknown_elements_refused

    with unknown_elements_refused() if validate else nullcontext():
        domain = service(ctx).define_file(file)
    click.echo(f"Domain '{domain.name}' defined from {file}")


@cli.command()
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def undefine(ctx: click.Context, domain: str) -> None:
    """Remove a domain's stored definition."""
    name = service(ctx).undefine(domain)
    click.echo(f"Domain '{name}' has been undefined")


@cli.command()
@click.option("--disable", is_flag=True, help="Do not start the domain at boot.")
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def autostart(ctx: click.Context, domain: str, disable: bool) -> None:
    """Mark a defined domain to start at boot (a link beside its definition)."""
    name = service(ctx).set_autostart(domain, not disable)
    click.echo(f"Domain '{name}' {'unmarked' if disable else 'marked'} as autostarted")


@cli.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also list inactive domains.")
@click.option("--name", "name_only", is_flag=True, help="Print names only.")
@click.pass_context
@reports_errors
def list_(ctx: click.Context, show_all: bool, name_only: bool) -> None:
    """List domains (running ones unless --all)."""
    views = service(ctx).list_domains(show_all)
    if name_only:
        click.echo("".join(f"{v.name}\n" for v in views))
        return
    rows = [[str(v.domid) if v.domid else "-", v.name, v.info.state.text] for v in views]
    click.echo(render_table(["Id", "Name", "State"], rows))


@cli.command()
@click.option("--inactive", is_flag=True, help="Show the stored definition, not the live one.")
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def dumpxml(ctx: click.Context, domain: str, inactive: bool) -> None:
    """Print a domain's XML (live while it runs: runtime aliases included)."""
    from pyvirt.domain.io import domain_to_xml

    click.echo(domain_to_xml(service(ctx).live_or_inactive(domain, inactive)), nl=False)


@cli.command()
@click.option("--paused", is_flag=True, help="Leave the vCPUs paused.")
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def start(ctx: click.Context, domain: str, paused: bool) -> None:
    """Start a defined domain."""
    from pyvirt.service import lifecycle

    name = lifecycle.start(connection(ctx), domain, paused)
    click.echo(f"Domain '{name}' started")


@cli.command()
@click.option("--timeout", default=60.0, show_default=True, metavar="S",
              help="Seconds to wait for the guest to power off.")
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def shutdown(ctx: click.Context, domain: str, timeout: float) -> None:
    """Press the ACPI power button and wait until the guest is off."""
    click.echo(f"Domain '{domain}' is being shutdown")
    service(ctx).shutdown(domain, timeout)


@cli.command()
@click.option("--timeout", default=60.0, show_default=True, metavar="S",
              help="Seconds to wait for the guest to power off before it is reset.")
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def reboot(ctx: click.Context, domain: str, timeout: float) -> None:
    """Press the ACPI power button; once the guest is off, start it again (same QEMU)."""
    click.echo(f"Domain '{domain}' is being rebooted")
    service(ctx).reboot(domain, timeout)


@cli.command()
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def reset(ctx: click.Context, domain: str) -> None:
    """Reset a running guest at once, as its reset button (no shutdown)."""
    name = service(ctx).reset(domain)
    click.echo(f"Domain '{name}' was reset")


@cli.command()
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def destroy(ctx: click.Context, domain: str) -> None:
    """Stop a domain at once (like pulling the plug)."""
    from pyvirt.service import lifecycle

    name = lifecycle.destroy(connection(ctx), domain)
    click.echo(f"Domain '{name}' destroyed")


@cli.command()
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def suspend(ctx: click.Context, domain: str) -> None:
    """Pause a running domain's vCPUs."""
    name = service(ctx).set_paused(domain, True)
    click.echo(f"Domain '{name}' suspended")


@cli.command()
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def resume(ctx: click.Context, domain: str) -> None:
    """Resume a paused domain."""
    name = service(ctx).set_paused(domain, False)
    click.echo(f"Domain '{name}' resumed")


@cli.command()
@click.option("--reason", is_flag=True, help="Also say why.")
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def domstate(ctx: click.Context, domain: str, reason: bool) -> None:
    """Print a domain's state."""
    info = service(ctx).state(domain)
    click.echo(f"{info.state.text} ({info.reason.value})" if reason else info.state.text)


@cli.command()
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def dominfo(ctx: click.Context, domain: str) -> None:
    """Print basic information about a domain."""
    from pyvirt.runtime.hostinfo import cpu_time_ns

    svc = service(ctx)
    d = svc.lookup(domain)
    view = svc.view(d)
    running = view.info.state.active and view.pid is not None
    cpu_time = [("CPU time", f"{cpu_time_ns(view.pid) / 1e9:.1f}s")] \
        if running and view.pid is not None else []
    click.echo(render_pairs([
        ("Id", str(view.domid) if view.domid else "-"), ("Name", view.name),
        ("UUID", view.uuid), ("OS Type", d.os.type), ("State", view.info.state.text),
        ("CPU(s)", str(d.vcpu.current or d.vcpu.count)), *cpu_time,
        ("Max memory", f"{d.memory} KiB"), ("Used memory", f"{d.current_memory or d.memory} KiB"),
        ("Persistent", "yes" if view.persistent else "no"),
        ("Autostart", "enable" if svc.store.autostart(d.name) else "disable"),
        ("Managed save", "no"), ("Security model", "none"), ("Security DOI", "0"),
    ]), nl=False)


@cli.command()
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def domiflist(ctx: click.Context, domain: str) -> None:
    """List a domain's network interfaces."""
    from pyvirt.domain.model import InterfaceType

    d = service(ctx).live_or_inactive(domain, inactive=False)
    rows = []
    for nic in d.devices.interfaces:
        source = nic.source_label
        model = "-" if nic.type is InterfaceType.HOSTDEV else (nic.model or "-")
        rows.append([nic.target_dev or "-", nic.type.value, source, model,
                     str(nic.mac) if nic.mac else "-"])
    click.echo(render_table(["Interface", "Type", "Source", "Model", "MAC"], rows))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.argument("domain", metavar="DOMAIN")
@click.pass_context
@reports_errors
def domfailover(ctx: click.Context, domain: str, as_json: bool) -> None:
    """Show each teaming pair: shared MAC, standby negotiated, primary plugged."""
    pairs = service(ctx).failover(domain)
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in pairs], indent=2))
        return
    rows = [[p.persistent, p.transient, p.mac or "-", "yes" if p.negotiated else "no",
             "yes" if p.plugged else "no"] for p in pairs]
    click.echo(render_table(["Persistent", "Transient", "MAC", "Negotiated", "Plugged"],
                            rows))
