"""The pure QEMU command builder: ``build_command(domain, caps, env) -> QemuCommand``.

One module per area: :mod:`.props` (JSON and keyval encoding), :mod:`.env` (inputs and
result), :mod:`.context` (shared state, PCI addresses), :mod:`.boot`, :mod:`.machine`,
:mod:`.devices_controllers`, :mod:`.devices_storage`, :mod:`.devices_net`,
:mod:`.devices_hostdev`, :mod:`.devices_misc`, and :mod:`.build`, which puts them in
libvirt's order.
"""

from pyvirt.qemu.command.build import DEFAULT_BINARY, build_command
from pyvirt.qemu.command.env import BuildEnv, QemuCommand
from pyvirt.qemu.tapnic import NicFds

__all__ = ["DEFAULT_BINARY", "BuildEnv", "NicFds", "QemuCommand", "build_command"]
