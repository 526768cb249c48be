"""The host resources of a state root (SR-IOV VFs, VFIO binding, hostdev pools)."""

from __future__ import annotations

from pyvirt.runtime.hooks import HostHooks, NoHostResources
from pyvirt.store.roots import StateRoot


def host_hooks_for(root: StateRoot) -> HostHooks:
    """The :class:`HostHooks` guests of *root* use."""
    return NoHostResources()
