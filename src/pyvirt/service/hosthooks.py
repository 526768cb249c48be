"""Wiring of the host resources of a state root (SR-IOV VFs, VFIO binding, hostdev
pools) into the runtime.

:func:`host_hooks_for` is what the runtime gets (its ``HostHooks`` port);
:func:`sriov_host_for` is the same object for the node-device and network commands.
Both talk to the real host: ``/sys`` and rtnetlink (pyroute2). ``host/`` sits below the
runtime, so what it needs to know of running domains (:func:`domain_busy`) is handed in
from here. Nothing is touched for a domain without PCI host devices or hostdev-pool
interfaces, unless an earlier run left records to reconcile.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from pyvirt.errors import LockTimeoutError
from pyvirt.host.netlink import PyrouteNetlink
from pyvirt.host.sriov import SriovHost
from pyvirt.host.sysfs import Sysfs
from pyvirt.runtime.hooks import HostHooks
from pyvirt.runtime.status import RunDir, domain_lock
from pyvirt.store.roots import StateRoot

SYSFS_ROOT = Path("/sys")


def print_warning(message: str) -> None:
    """Warnings reach the user as virsh prints them: ``warning: ...`` on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def domain_busy(root: StateRoot) -> Callable[[str], bool]:
    """Whether a domain of *root* may still hold host devices: its QEMU runs (status
    record or pidfile), or a pyvirt holds its lock (it is being started or stopped)."""

    def busy(name: str) -> bool:
        rd = RunDir(root.domain_run_dir(name))
        status = rd.read_status()
        if status is not None and status.process.alive():
            return True
        if rd.pidfile_process() is not None:
            return True
        try:
            with domain_lock(root, name, "host reconcile", timeout=0):
                return False
        except LockTimeoutError:
            return True

    return busy


def sriov_host_for(root: StateRoot) -> SriovHost:
    """The SR-IOV host of *root* on this machine's sysfs and netlink."""
    return SriovHost(root, sysfs=Sysfs(SYSFS_ROOT), netlink=PyrouteNetlink(),
                     busy=domain_busy(root), warn=print_warning)


def host_hooks_for(root: StateRoot) -> HostHooks:
    """The :class:`HostHooks` guests of *root* use."""
    return sriov_host_for(root)
