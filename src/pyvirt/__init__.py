"""pyvirt: a daemonless, libvirt-compatible QEMU manager with NIC teaming.

The package root is the Python API (libvirt-python's names); it is imported lazily so
that the command-line tool does not pay for it.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    api = importlib.import_module("pyvirt.api")
    try:
        return getattr(api, name)
    except AttributeError:
        raise AttributeError(f"module 'pyvirt' has no attribute {name!r}") from None
