"""Device commands: attach-device, detach-device, detach-device-alias, update-device,
domif-setlink, domif-getlink."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from pyvirt.cli.main import cli, connection, reports_errors
from pyvirt.errors import PyvirtError
from pyvirt.runtime.hotplug import UNPLUG_TIMEOUT
from pyvirt.service.devices import (
    AFFECT_CONFIG,
    AFFECT_LIVE,
    DeviceService,
    read_devices,
)
from pyvirt.service.domains import DomainService

DETACHED = "Device detached successfully"
DETACH_PENDING = "Device detach request sent successfully"


def service(ctx: click.Context, timeout: float = UNPLUG_TIMEOUT) -> DeviceService:
    return DeviceService(DomainService(connection(ctx)), unplug_timeout=timeout)


def impact_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """virsh's --live/--config/--current/--persistent."""
    for option in reversed([
        click.option("--live", is_flag=True, help="Affect the running domain."),
        click.option("--config", is_flag=True, help="Affect the stored definition."),
        click.option("--current", is_flag=True,
                     help="Affect the running domain if it runs, else the definition "
                          "(the default)."),
        click.option("--persistent", is_flag=True,
                     help="Affect the definition, and the running domain if it runs."),
    ]):
        func = option(func)
    return func


def impact(live: bool, config: bool, current: bool, persistent: bool) -> tuple[int, bool]:
    """(flags, persistent) from the options, refusing the combinations virsh refuses.

    :raises PyvirtError: ``Options --current and --live are mutually exclusive`` (virsh's
        words, without a category).
    """
    if current:
        for name, given in (("live", live), ("config", config), ("persistent", persistent)):
            if given:
                raise PyvirtError(f"Options --current and --{name} are mutually exclusive")
    return (AFFECT_LIVE if live else 0) | (AFFECT_CONFIG if config else 0), persistent


@cli.command("attach-device")
@click.argument("domain", metavar="DOMAIN")
@click.argument("file", metavar="FILE")
@impact_options
@click.pass_context
@reports_errors
def attach_device(ctx: click.Context, domain: str, file: str, live: bool, config: bool,
                  current: bool, persistent: bool) -> None:
    """Attach the device(s) of FILE: one device element, or several inside <devices>
    (both members of a teaming pair: the persistent one is plugged first)."""
    flags, persist = impact(live, config, current, persistent)
    service(ctx).attach(domain, read_devices(file), flags, persist)
    click.echo("Device attached successfully")


@cli.command("detach-device")
@click.argument("domain", metavar="DOMAIN")
@click.argument("file", metavar="FILE")
@impact_options
@click.option("--timeout", default=UNPLUG_TIMEOUT, show_default=True, metavar="S",
              help="Seconds to wait for the guest to release the device.")
@click.pass_context
@reports_errors
def detach_device(ctx: click.Context, domain: str, file: str, live: bool, config: bool,
                  current: bool, persistent: bool, timeout: float) -> None:
    """Detach the device(s) FILE describes (by alias, PCI address or MAC; the MAC of a
    teaming pair is ambiguous: use the alias)."""
    flags, persist = impact(live, config, current, persistent)
    done = service(ctx, timeout).detach(domain, read_devices(file), flags, persist)
    click.echo(DETACHED if done else DETACH_PENDING)


@cli.command("detach-device-alias")
@click.argument("domain", metavar="DOMAIN")
@click.argument("aliases", metavar="ALIAS...", nargs=-1, required=True)
@impact_options
@click.option("--timeout", default=UNPLUG_TIMEOUT, show_default=True, metavar="S",
              help="Seconds to wait for the guest to release the device.")
@click.pass_context
@reports_errors
def detach_device_alias(ctx: click.Context, domain: str, aliases: tuple[str, ...],
                        live: bool, config: bool, current: bool, persistent: bool,
                        timeout: float) -> None:
    """Detach the device(s) with these aliases (several: one request, transient teaming
    members first)."""
    flags, persist = impact(live, config, current, persistent)
    done = service(ctx, timeout).detach(domain, list(aliases), flags, persist)
    click.echo(DETACHED if done else DETACH_PENDING)


@cli.command("update-device")
@click.argument("domain", metavar="DOMAIN")
@click.argument("file", metavar="FILE")
@impact_options
@click.pass_context
@reports_errors
def update_device(ctx: click.Context, domain: str, file: str, live: bool, config: bool,
                  current: bool, persistent: bool) -> None:
    """Change an interface's <link state='up|down'/> (nothing else can change)."""
    flags, persist = impact(live, config, current, persistent)
    service(ctx).update(domain, read_devices(file), flags, persist)
    click.echo("Device updated successfully")


@cli.command("domif-setlink")
@click.argument("domain", metavar="DOMAIN")
@click.argument("iface", metavar="IFACE")
@click.argument("state", metavar="STATE", type=click.Choice(["up", "down"]))
@click.option("--config", is_flag=True, help="Affect the stored definition.")
@click.pass_context
@reports_errors
def domif_setlink(ctx: click.Context, domain: str, iface: str, state: str,
                  config: bool) -> None:
    """Set an interface's link up or down (IFACE: alias, target device or MAC)."""
    service(ctx).set_link(domain, iface, state, config)
    click.echo("Device updated successfully")


@cli.command("domif-getlink")
@click.argument("domain", metavar="DOMAIN")
@click.argument("iface", metavar="IFACE")
@click.option("--config", is_flag=True, help="Read the stored definition.")
@click.pass_context
@reports_errors
def domif_getlink(ctx: click.Context, domain: str, iface: str, config: bool) -> None:
    """Print an interface's link state (IFACE: alias, target device or MAC)."""
    click.echo(f"{iface} {service(ctx).get_link(domain, iface, config)}")
