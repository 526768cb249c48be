"""Host device and network commands: nodedev-detach, nodedev-reattach, net-define,
net-undefine, net-start, net-destroy, net-list, net-dumpxml (hostdev pools)."""

from __future__ import annotations

import click

from pyvirt.cli.main import cli, connection, reports_errors
from pyvirt.cli.table import render_table
from pyvirt.host.pools import NetworkStore
from pyvirt.host.sriov import SriovHost
from pyvirt.host.sysfs import parse_device_name
from pyvirt.service import hosthooks as hooks


def host(ctx: click.Context) -> SriovHost:
    return hooks.sriov_host_for(connection(ctx).root)


def networks(ctx: click.Context) -> NetworkStore:
    return host(ctx).networks


@cli.command("nodedev-detach")
@click.argument("device", metavar="PCI")
@click.pass_context
@reports_errors
def nodedev_detach(ctx: click.Context, device: str) -> None:
    """Bind a PCI device (pci_0000_03_10_1 or 0000:03:10.1) to vfio-pci."""
    host(ctx).nodedev_detach(parse_device_name(device))
    click.echo(f"Device {device} detached")


@cli.command("nodedev-reattach")
@click.argument("device", metavar="PCI")
@click.pass_context
@reports_errors
def nodedev_reattach(ctx: click.Context, device: str) -> None:
    """Give a PCI device back to its host driver, restoring a VF MAC/VLAN a crash left."""
    host(ctx).nodedev_reattach(parse_device_name(device))
    click.echo(f"Device {device} re-attached")


@cli.command("net-define")
@click.argument("file", metavar="FILE")
@click.pass_context
@reports_errors
def net_define(ctx: click.Context, file: str) -> None:
    """Define a hostdev network (a pool of SR-IOV VFs) from an XML file."""
    net = networks(ctx).define_file(file)
    click.echo(f"Network {net.name} defined from {file}")


@cli.command("net-undefine")
@click.argument("network", metavar="NETWORK")
@click.pass_context
@reports_errors
def net_undefine(ctx: click.Context, network: str) -> None:
    """Remove a network's stored definition."""
    networks(ctx).undefine(network)
    click.echo(f"Network {network} has been undefined")


@cli.command("net-start")
@click.argument("network", metavar="NETWORK")
@click.pass_context
@reports_errors
def net_start(ctx: click.Context, network: str) -> None:
    """Start a defined network: its VFs become available to guests."""
    networks(ctx).start(network)
    click.echo(f"Network {network} started")


@cli.command("net-destroy")
@click.argument("network", metavar="NETWORK")
@click.pass_context
@reports_errors
def net_destroy(ctx: click.Context, network: str) -> None:
    """Stop a network (guests keep the VFs they hold until they stop)."""
    networks(ctx).destroy(network)
    click.echo(f"Network {network} destroyed")


@cli.command("net-list")
@click.option("--all", "show_all", is_flag=True, help="Also list inactive networks.")
@click.pass_context
@reports_errors
def net_list(ctx: click.Context, show_all: bool) -> None:
    """List networks (active ones unless --all)."""
    rows = [[v.name, "active" if v.active else "inactive", "no",
             "yes" if v.persistent else "no"]
            for v in networks(ctx).list_networks(show_all)]
    click.echo(render_table(["Name", "State", "Autostart", "Persistent"], rows))


@cli.command("net-dumpxml")
@click.option("--inactive", is_flag=True, help="Show the definition, not the running form.")
@click.argument("network", metavar="NETWORK")
@click.pass_context
@reports_errors
def net_dumpxml(ctx: click.Context, network: str, inactive: bool) -> None:
    """Print a network's XML (running: the VF list of its PF expanded)."""
    click.echo(networks(ctx).dumpxml(network, inactive), nl=False)
