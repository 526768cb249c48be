"""Use cases that turn XML into things without running anything: validate, to-native."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pyvirt.domain.io import domain_from_file
from pyvirt.domain.model import Domain
from pyvirt.qemu.define import emulator_of, prepare_definition
from pyvirt.service.context import Context

if TYPE_CHECKING:
    from pyvirt.qemu.command import QemuCommand


def validate_file(ctx: Context, path: str | Path) -> Domain:
    """Schema, every rule, caps of the domain's emulator; returns the defaulted domain.

    :raises PyvirtError: for the first problem found.
    """
    domain = domain_from_file(path)
    return prepare_definition(domain, ctx.caps_for(emulator_of(domain)), ctx.new_mac())


def native_command(ctx: Context, domain: Domain) -> QemuCommand:
    """The QEMU command line ``start`` would run for a prepared *domain*.

    :raises PyvirtError: when the builder refuses the domain.
    """
    from pyvirt.qemu.command import BuildEnv, build_command  # only this use case needs it
    from pyvirt.qemu.tapnic import fixed_fd_plan
    from pyvirt.runtime.status import RunDir

    rd = RunDir(ctx.root.domain_run_dir(domain.name))  # the paths Runtime.start gives
    # tap NICs show libvirt's placeholder descriptors: a start opens the real ones
    # VNC autoport shows the first display, as libvirt's conversion does (no port is taken)
    env = BuildEnv(qmp_socket=rd.monitor_argument, pidfile=rd.pidfile, incoming=None,
                   nic_fds=fixed_fd_plan(domain), vnc_port=5900)
    return build_command(domain, ctx.caps_for(emulator_of(domain)), env)
