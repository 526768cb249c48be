"""``build_command``: the whole QEMU command line of a domain, in libvirt's order (C.4)."""

from __future__ import annotations

from pyvirt.domain.model import Domain
from pyvirt.qemu.aliases import assign_aliases
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.command.boot import apply_boot_order
from pyvirt.qemu.command.context import BuildContext
from pyvirt.qemu.command.devices_controllers import controller_args
from pyvirt.qemu.command.devices_hostdev import hostdev_args
from pyvirt.qemu.command.devices_misc import (
    audio_args,
    balloon_rng_args,
    channel_args,
    graphics_args,
    input_args,
    serial_args,
    video_args,
)
from pyvirt.qemu.command.devices_net import network_args
from pyvirt.qemu.command.devices_storage import disk_args
from pyvirt.qemu.command.env import BuildEnv, QemuCommand
from pyvirt.qemu.command.machine import (
    clock_pm_boot_args,
    machine_args,
    memory_args,
    monitor_args,
    name_args,
)
from pyvirt.qemu.machine import DEFAULT_EMULATOR

DEFAULT_BINARY = DEFAULT_EMULATOR

# QEMU's seccomp filter as libvirt enables it (qemu.conf seccomp_sandbox default).
_SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"


def build_command(domain: Domain, caps: QemuCaps, env: BuildEnv) -> QemuCommand:
    """The QEMU command line that runs *domain*.

    Pure: the result depends only on the arguments (no clock, randomness, environment
    or file access). *domain* must be defaulted and placed (define's pipeline); runtime
    aliases are assigned here, so both a definition and its live form are accepted.
    ``caps`` is consulted only where the command depends on the binary (failover
    properties, ``-no-shutdown``, the default machine).

    :raises ConfigUnsupportedError: for configurations pyvirt cannot run (bridge or
        network interfaces, USB host devices, unknown models ...).
    :raises InternalError: when the domain is inconsistent (a device on a PCI bus or
        disk controller that does not exist, VNC autoport without ``env.vnc_port``).
    """
    ctx = BuildContext(apply_boot_order(assign_aliases(domain)), caps, env)
    argv = [domain.devices.emulator or DEFAULT_BINARY]
    argv += name_args(ctx)
    argv += machine_args(ctx)
    argv += memory_args(ctx)
    argv += monitor_args(ctx)
    argv += clock_pm_boot_args(ctx)
    argv += controller_args(ctx)
    argv += disk_args(ctx)
    argv += network_args(ctx)
    argv += serial_args(ctx)
    argv += channel_args(ctx)
    argv += input_args(ctx)
    argv += audio_args(ctx)
    argv += graphics_args(ctx)
    argv += video_args(ctx)
    argv += hostdev_args(ctx)
    if env.incoming is not None:
        argv += ["-incoming", env.incoming]
    argv += balloon_rng_args(ctx)
    argv += ["-sandbox", _SANDBOX, "-msg", "timestamp=on"]
    return QemuCommand(tuple(argv))
