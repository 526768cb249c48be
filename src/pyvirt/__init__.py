"""pyvirt: a daemonless, libvirt-compatible QEMU manager with NIC teaming.

The package root is the Python API (libvirt-python's names); it is imported lazily so
that the command-line tool does not pay for it.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    from pyvirt import api

    if hasattr(api, name):
        return getattr(api, name)
    raise AttributeError(f"module 'pyvirt' has no attribute {name!r}")
