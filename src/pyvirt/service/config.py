"""pyvirt's own configuration file: ``pyvirt.conf`` beside the domain directory.

``qemu:///system`` reads ``/etc/pyvirt/pyvirt.conf``; ``qemu:///embed?root=DIR`` reads
``DIR/etc/pyvirt.conf``. A missing file means every default. The format is the subset
of libvirt's ``qemu.conf`` pyvirt needs: one ``key = value`` per line, ``#`` starts a
comment, the value may be double-quoted. Unknown keys are refused (a misspelt security
setting must not be silently ignored). Keys:

``qemu_user``
    Run every QEMU of this root as this user (its primary group, no supplementary
    groups), as libvirt's ``user``/``group`` settings do. The runtime hands the user the
    files QEMU must create or write (its run directory, log); pyvirt itself keeps running
    as the caller. Default: QEMU runs as the caller.
"""

from __future__ import annotations

import pwd
import re
from dataclasses import dataclass
from pathlib import Path

from pyvirt.errors import ConfigFileError
from pyvirt.store.roots import StateRoot

CONFIG_NAME = "pyvirt.conf"
_MAX_CONFIG_BYTES = 64 * 1024
_LINE = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:"([^"\\]*)"|([^\s"#]+))\s*(?:#.*)?$')
_BLANK = re.compile(r"^\s*(?:#.*)?$")
_KEYS = frozenset({"qemu_user"})


@dataclass(frozen=True)
class PyvirtConfig:
    qemu_user: str | None = None  # run QEMU as this unprivileged user


def config_path(root: StateRoot) -> Path:
    """``<config root>/pyvirt.conf``: the parent of the domain definitions directory."""
    return root.config_dir.parent / CONFIG_NAME


def load_config(root: StateRoot) -> PyvirtConfig:
    """The configuration of *root* (defaults when there is no file).

    :raises ConfigFileError: for an unreadable file, a malformed line, an unknown or
        repeated key, or a ``qemu_user`` that does not exist on this host.
    """
    path = config_path(root)
    try:
        with open(path, "rb") as stream:
            raw = stream.read(_MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return PyvirtConfig()
    except OSError as err:
        raise ConfigFileError(f"cannot read {path}: {err.strerror}") from err
    if len(raw) > _MAX_CONFIG_BYTES:
        raise ConfigFileError(f"{path} is larger than {_MAX_CONFIG_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigFileError(f"{path} is not UTF-8 text") from err
    values = parse_config(text, str(path))
    user = values.get("qemu_user")
    if user is not None:
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise ConfigFileError(
                f"{path}: qemu_user '{user}' is not a user on this host") from None
    return PyvirtConfig(qemu_user=user)


def parse_config(text: str, where: str) -> dict[str, str]:
    """``key = value`` pairs of *text* (pure).

    :raises ConfigFileError: naming *where* and the line of the first problem.
    """
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if _BLANK.match(line):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ConfigFileError(f"{where}:{number}: expected 'key = value'")
        key, value = match.group(1), match.group(2) if match.group(2) is not None \
            else match.group(3)
        if key not in _KEYS:
            raise ConfigFileError(f"{where}:{number}: unknown setting '{key}'")
        if key in values:
            raise ConfigFileError(f"{where}:{number}: '{key}' is set twice")
        if not value or any(ord(c) < 32 for c in value):
            raise ConfigFileError(f"{where}:{number}: '{key}' needs a non-empty value")
        values[key] = value
    return values
