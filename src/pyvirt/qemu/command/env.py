"""The builder's inputs from the outside world and its result."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pyvirt.qemu.tapnic import NicFds

# Options that take no value; every other option takes exactly one. Knowing this is what
# lets shell_quoted() put an option and its value on one line even when the value
# itself starts with '-'.
FLAG_OPTIONS = frozenset({
    "-S", "-no-user-config", "-nodefaults", "-no-shutdown", "-no-reboot", "-no-acpi",
    "-no-hpet",
})


@dataclass(frozen=True)
class BuildEnv:
    """Everything the command depends on that comes from I/O or policy, not from XML.

    ``qmp_socket``: where QEMU listens for QMP (the runtime connects there).
    ``pidfile``: passed as ``-pidfile`` when set.
    ``incoming``: ``-incoming`` URI of a migration destination (``defer`` as libvirt).
    ``paused``: emit ``-S``, so vCPUs wait for ``cont`` (libvirt always does).
    ``vnc_port``: the TCP port the runtime reserved for ``<graphics type='vnc'
    autoport='yes'>`` (the builder cannot look for a free port itself).
    ``nic_fds``: the fd plan of the tap NICs (``bridge``, ``ethernet``), by interface
    alias: the descriptors the runtime opened and QEMU inherits (libvirt's form: QEMU
    never opens a tap by name).
    """

    qmp_socket: Path
    pidfile: Path | None = None
    incoming: str | None = None
    paused: bool = True
    vnc_port: int | None = None
    nic_fds: Mapping[str, NicFds] = field(default_factory=dict)


@dataclass(frozen=True)
class QemuCommand:
    """A complete QEMU command line: ``argv[0]`` is the binary; no shell is involved."""

    argv: tuple[str, ...]

    def option_lines(self) -> list[tuple[str, ...]]:
        """The argv grouped as the binary, then one option with its value per group."""
        groups: list[tuple[str, ...]] = [self.argv[:1]]
        i = 1
        while i < len(self.argv):
            option = self.argv[i]
            takes_value = option not in FLAG_OPTIONS and i + 1 < len(self.argv)
            groups.append(self.argv[i:i + 2] if takes_value else (option,))
            i += 2 if takes_value else 1
        return groups

    def shell_quoted(self) -> str:
        """One option (with its value) per line, ``shlex.quote``-d, joined by `` \\``.

        Pasting the result into a POSIX shell runs exactly :attr:`argv`.
        """
        return " \\\n".join(" ".join(shlex.quote(arg) for arg in group)
                            for group in self.option_lines())
