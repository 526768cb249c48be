"""pyvirt's own configuration file (``<config root>/pyvirt.conf``)."""

from __future__ import annotations

from dataclasses import dataclass

from pyvirt.store.roots import StateRoot


@dataclass(frozen=True)
class PyvirtConfig:
    qemu_user: str | None = None  # run QEMU as this unprivileged user (qemu:///system)


def load_config(root: StateRoot) -> PyvirtConfig:
    """The configuration of *root* (defaults when there is no file)."""
    return PyvirtConfig()
