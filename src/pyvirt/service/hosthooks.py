"""Wiring of the host resources of a state root (SR-IOV VFs, VFIO binding, hostdev
pools, the taps of bridge and ethernet NICs) into the runtime.

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

from pyvirt.domain.model import Domain, Hostdev, Interface
from pyvirt.errors import LockTimeoutError
from pyvirt.host.netlink import PyrouteNetlink
from pyvirt.host.netstate import HostState
from pyvirt.host.sriov import SriovHost
from pyvirt.host.sysfs import Sysfs
from pyvirt.host.taps import TapConnection, TapHost
from pyvirt.host.tuntap import KernelTaps, outside_event_loop
from pyvirt.qemu.tapnic import is_tap
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


class HostResources:
    """The runtime's host hooks: SR-IOV (prepare/release, one device at a time for
    hot-plug) and taps (``connect_nics``, after prepare; removed by release)."""

    def __init__(self, sriov: SriovHost, taps: TapHost) -> None:
        self.sriov = sriov
        self.taps = taps

    def prepare(self, live: Domain) -> Domain:
        return self.sriov.prepare(live)

    def connect_nics(self, live: Domain) -> TapConnection:
        if not any(is_tap(nic) for nic in live.devices.interfaces) \
                and not self.taps.state.taps():
            return TapConnection(live)  # nothing to make or reconcile: no netlink at all
        # start runs an event loop, pyroute2's IPRoute its own: a thread of its own
        return outside_event_loop(lambda: self.taps.connect(live))

    def holds_nics(self, name: str) -> bool:
        return any(t.domain == name for t in self.taps.state.taps())

    def release_nics(self, name: str) -> None:
        outside_event_loop(lambda: self.taps.release(name))

    def release(self, live: Domain) -> None:
        if self.taps.state.taps():
            outside_event_loop(lambda: self.taps.release(live.name))
        self.sriov.release(live)

    def prepare_device(self, live: Domain, dev: Interface | Hostdev) -> Interface | Hostdev:
        return self.sriov.prepare_device(live, dev)

    def release_device(self, live: Domain, dev: Interface | Hostdev) -> None:
        self.sriov.release_device(live, dev)


def tap_host_for(root: StateRoot) -> TapHost:
    """The taps of *root*'s guests, in this process's network namespace."""
    return TapHost(HostState.of(root), KernelTaps(), busy=domain_busy(root),
                   warn=print_warning)


def host_hooks_for(root: StateRoot) -> HostHooks:
    """The :class:`HostHooks` guests of *root* use."""
    return HostResources(sriov_host_for(root), tap_host_for(root))
