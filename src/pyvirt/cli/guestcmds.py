"""``pyvirt guest build`` and ``pyvirt guest xml``: the small demo/test guest."""

from __future__ import annotations

from pathlib import Path

import click

from pyvirt.cli.main import cli, reports_errors


@cli.group()
def guest() -> None:
    """Build and describe the small Debian guest used by the demo and the tests."""


@guest.command("build")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Cache directory (default: $PYVIRT_GUEST_DIR, else ~/.cache/pyvirt/guest).")
@click.option("--force", is_flag=True, help="Rebuild even if a complete build is cached.")
@reports_errors
def guest_build(directory: Path | None, force: bool) -> None:
    """Build kernel + initramfs from Debian 12 packages; print the directory."""
    from pyvirt.guest.build import build_guest

    image = build_guest(directory, force=force, log=lambda line: click.echo(line, err=True))
    click.echo(str(image.directory))


@guest.command("xml")
@click.argument("name")
@click.option("--serial-log", type=click.Path(path_type=Path), required=True,
              help="File the guest's serial console is appended to.")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Where the guest was built (default as for 'guest build').")
@click.option("--type", "domain_type", type=click.Choice(["kvm", "qemu"]), default=None,
              help="Domain type (default: kvm only with real hardware virtualisation).")
@click.option("--kernel-args", default="", help="Extra guest kernel arguments "
              "(e.g. pyvirt.skip=virtio_net, pyvirt.nounplug=1).")
@reports_errors
def guest_xml(name: str, serial_log: Path, directory: Path | None, domain_type: str | None,
              kernel_args: str) -> None:
    """Print a q35 domain with a teamed NIC pair for the built guest."""
    from pyvirt.guest.build import build_guest
    from pyvirt.guest.xml import demo_domain_xml

    image = build_guest(directory)
    click.echo(demo_domain_xml(name, image, serial_log.absolute(), domain_type=domain_type,
                               kernel_args=kernel_args), nl=False)
