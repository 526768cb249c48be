"""The CLI imports a command's module only when the command runs: its table must match
what the modules really register, and a short command must not drag in the others."""

from __future__ import annotations

import importlib
import subprocess
import sys

from pyvirt.cli.main import COMMAND_MODULES, cli


def test_table_matches_what_the_modules_register() -> None:
    for module in set(COMMAND_MODULES.values()):
        importlib.import_module(f"pyvirt.cli.{module}")
    registered = {name: cmd.callback.__module__.rsplit(".", 1)[1]
                  for name, cmd in cli.commands.items() if cmd.callback is not None}
    assert registered == COMMAND_MODULES


def test_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "pyvirt.cli", "--help"], check=True,
                         capture_output=True, text=True).stdout
    listed = {line.split()[0] for line in out.split("Commands:")[1].splitlines()
              if line.strip()}
    assert listed == set(COMMAND_MODULES) - {"migrate-agent", "api-agent"}  # internal


def test_a_short_command_imports_only_its_module() -> None:
    probe = ("import sys; sys.argv = ['pyvirt', 'validate', '--help']\n"
             "from pyvirt.cli.main import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(' '.join(sorted(m for m in sys.modules if m.startswith(('pyvirt.cli.', "
             "'asyncio', 'qemu', 'rich', 'pyroute2')))))")
    loaded = set(subprocess.run([sys.executable, "-c", probe], check=True,
                                capture_output=True, text=True).stdout.split())
    assert "pyvirt.cli.xmlcmds" in loaded
    assert not loaded & {"pyvirt.cli.domcmds", "pyvirt.cli.migcmds", "pyvirt.cli.devcmds",
                         "pyvirt.cli.hostcmds", "pyvirt.cli.guestcmds"}
    assert not any(m.startswith(("asyncio", "qemu", "rich", "pyroute2")) for m in loaded)
