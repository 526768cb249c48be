"""Tap NICs of a state root: ``type='bridge'``, ``type='ethernet'`` and ``type='direct'``
(a macvtap), the libvirt way.

:meth:`TapHost.connect` (before QEMU starts), under the host lock every change of host
resources holds:

1. reconcile: tap records of domains no longer running (and of the domain being
   started) are undone first;
2. per tap NIC, in document order: the bridge's MTU is read (a missing bridge is
   ``Cannot get interface MTU on 'br0': No such device``, before anything is made);
   the name is chosen (the user's, else the next free ``vnetN``); the **record** is
   written; ``TUNSETIFF`` on ``/dev/net/tun`` once per queue (``IFF_TAP|IFF_NO_PI``,
   ``IFF_VNET_HDR`` by model, ``IFF_MULTI_QUEUE`` for several queues); the record gets
   the tap's ifindex; host-side MAC (``fe:`` + the guest's), MTU copied from the bridge,
   bridge port, up, then ``<mtu>`` if given; ``/dev/vhost-net`` once per queue when
   the NIC wants vhost (else, or when it does not open, userspace virtio, unless
   ``<driver name='vhost'/>`` makes that an error). ``managed='no'`` ethernet: the
   existing tap is only opened, never changed, recorded or removed.

   Any failure closes every descriptor, removes every tap made and its record.

The result is the live domain (``<target dev='vnetN'/>``) and the fd plan the command
builder turns into ``-netdev`` (see :class:`pyvirt.qemu.tapnic.NicFds`).

:meth:`TapHost.release` (every stop path) and reconciliation remove the taps a domain's
records name (the kernel has usually done so already: the taps are not persistent and go
with QEMU's last descriptor) and drop the records. They never raise.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pyvirt.domain.model import BridgeSource, DirectSource, Domain, Interface, MacvtapMode
from pyvirt.errors import (
    ConfigUnsupportedError,
    HostError,
    NetlinkCallError,
    OperationInvalidError,
    PyvirtError,
    SystemCallError,
)
from pyvirt.host.netstate import HostState, TapRecord
from pyvirt.host.tuntap import TapOps, close_all, tap_flags
from pyvirt.qemu.tapnic import (
    MAX_IFNAME,
    NicFds,
    host_mac,
    is_tap,
    queue_count,
    unmanaged,
    vhost_required,
    vhost_wanted,
    vnet_hdr,
)
from pyvirt.store.atomic import write_atomic
from pyvirt.store.locks import DomainLock

Warn = Callable[[str], None]
#: libvirt's bound on the search for a free generated name.
NAME_ATTEMPTS = 10000


@dataclass
class TapConnection:
    """What :meth:`TapHost.connect` made: the live domain with its tap names, the fd plan
    by interface alias, and every descriptor pyvirt holds (QEMU inherits them; the
    caller closes its own copies with :meth:`close` once QEMU runs, or gave up)."""

    domain: Domain
    fds: dict[str, NicFds] = field(default_factory=dict)

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return tuple(fd for nic in self.fds.values() for fd in (*nic.tap, *nic.vhost))

    def close(self) -> None:
        close_all(list(self.pass_fds))


class TapHost:
    """Taps of one state root's guests in the current network namespace."""

    def __init__(self, state: HostState, ops: TapOps, *, busy: Callable[[str], bool],
                 warn: Warn, lock_timeout: float = 60.0) -> None:
        self.state = state
        self.ops = ops
        self.busy = busy
        self.warn = warn
        self.lock_timeout = lock_timeout

    def lock(self, job: str) -> DomainLock:
        """The host-wide lock (the one :class:`~pyvirt.host.sriov.SriovHost` takes)."""
        return DomainLock(self.state.directory, "devices", job, self.lock_timeout)

    # --- start ------------------------------------------------------------------------

    def connect(self, live: Domain) -> TapConnection:
        """Create (or open) the tap of every tap NIC of *live*.

        :raises PyvirtError: in libvirt's words; nothing made stays behind.
        """
        wanted = [i for i, nic in enumerate(live.devices.interfaces) if is_tap(nic)]
        if not wanted:
            if self.state.taps():
                with self.lock(f"reconcile ({live.name})"), self.ops.session():
                    self.reconcile(starting=live.name)
            return TapConnection(live)
        result = TapConnection(live)
        nics = list(live.devices.interfaces)
        with self.lock(f"taps of {live.name}"), self.ops.session():
            self.reconcile(starting=live.name)
            try:
                for index in wanted:
                    nic = nics[index]
                    nics[index], result.fds[nic.alias or ""] = self._connect(live, nic)
            except BaseException:
                result.close()
                self._undo(live.name)
                raise
        result.domain = replace(live, devices=replace(live.devices, interfaces=tuple(nics)))
        return result

    def _connect(self, live: Domain, nic: Interface) -> tuple[Interface, NicFds]:
        queues = queue_count(nic)
        flags = tap_flags(vnet_hdr(nic), queues)
        if isinstance(nic.source, DirectSource):
            name, taps = self._macvtap(live, nic, nic.source, queues)
        elif unmanaged(nic):
            name = self._existing(nic)
            taps = self.ops.open_tap(name, flags, queues)
        else:
            bridge = nic.source.bridge if isinstance(nic.source, BridgeSource) else None
            bridge_mtu = self.ops.mtu(bridge) if bridge else None
            name = self._name_for(nic, "vnet")
            self.state.write_tap(TapRecord(name, live.name, bridge))
            taps = self.ops.open_tap(name, flags, queues)
            try:
                self.state.write_tap(TapRecord(name, live.name, bridge,
                                               self.ops.ifindex(name)))
                if nic.mac is not None:
                    self.ops.set_mac(name, host_mac(nic.mac))
                if bridge is not None and bridge_mtu is not None:
                    self.ops.set_mtu(name, bridge_mtu)
                    self.ops.add_to_bridge(bridge, name)
                self.ops.set_up(name)
                if nic.mtu is not None:
                    self.ops.set_mtu(name, nic.mtu)
            except BaseException:
                close_all(taps)
                raise
        try:
            vhost = self._vhost(live, nic, queues)
        except BaseException:
            close_all(taps)
            raise
        return replace(nic, target_dev=name), NicFds(tuple(taps), tuple(vhost))

    def _macvtap(self, live: Domain, nic: Interface, source: DirectSource,
                 queues: int) -> tuple[str, list[int]]:
        """``type='direct'``: a macvtap on ``<source dev>`` carrying the guest's MAC,
        recorded before it is made (it is a link of its own: it outlives QEMU)."""
        mode = source.mode or MacvtapMode.VEPA
        if mode is MacvtapMode.PASSTHROUGH:
            raise ConfigUnsupportedError("macvtap mode 'passthrough' is not supported by "
                                         "pyvirt yet (the lower device's MAC and VLAN must "
                                         "be saved and restored)")
        lower = source.dev or ""
        name = self._name_for(nic, "macvtap")
        if nic.mac is None or self.ops.ifindex(lower) is None:
            raise NetlinkCallError(f"error creating macvtap interface {name}@{lower} "
                                   f"({nic.mac})", errno.ENODEV)
        self.state.write_tap(TapRecord(name, live.name))
        self.ops.create_macvtap(name, lower, mode.value, nic.mac)
        index = self.ops.ifindex(name)
        self.state.write_tap(TapRecord(name, live.name, None, index))
        if index is None:
            raise HostError(f"macvtap interface {name} vanished after its creation")
        self.ops.set_up(lower)
        self.ops.set_up(name)
        return name, self.ops.open_macvtap(index, vnet_hdr(nic), queues)

    def _existing(self, nic: Interface) -> str:
        """The tap a ``managed='no'`` ethernet NIC names; it must exist."""
        name = nic.target_dev
        if not name:
            raise HostError("target dev must be supplied when managed='no'")
        self._check_length(name)
        if self.ops.ifindex(name) is None:
            raise HostError(f"target managed='no' but specified dev '{name}' doesn't exist")
        return name

    def _name_for(self, nic: Interface, prefix: str) -> str:
        """The user's name (libvirt 9.1+: it must not exist yet), else the next free
        ``vnetN`` / ``macvtapN`` (a counter per prefix and state root, as libvirt's per
        daemon: names are not reused at once)."""
        if nic.target_dev:
            self._check_length(nic.target_dev)
            if self.ops.ifindex(nic.target_dev) is not None:
                raise OperationInvalidError(f"The {nic.target_dev} interface already exists")
            return nic.target_dev
        counter = self.state.directory / f"next-{prefix}"
        try:
            first = int(counter.read_text().strip())
        except (OSError, ValueError):
            first = 0
        recorded = {t.name for t in self.state.taps()}
        for n in range(first, first + NAME_ATTEMPTS):
            name = f"{prefix}{n}"
            if len(name) > MAX_IFNAME:
                break
            if name not in recorded and self.ops.ifindex(name) is None:
                write_atomic(counter, f"{n + 1}\n")
                return name
        raise HostError(f"no unused {prefix} names available")

    @staticmethod
    def _check_length(name: str) -> None:
        if len(name.encode()) > MAX_IFNAME:
            raise SystemCallError(f"Network interface name '{name}' is too long: "
                                  f"{os.strerror(errno.ERANGE)}")

    def _vhost(self, live: Domain, nic: Interface, queues: int) -> list[int]:
        if not vhost_wanted(live, nic):
            return []
        try:
            return self.ops.open_vhost(queues)
        except OSError as err:
            if vhost_required(nic):
                raise ConfigUnsupportedError("vhost-net was requested for an interface, "
                                             "but is unavailable") from err
            self.warn(f"Unable to open vhost-net. Opened so far 0, requested {queues}")
            return []

    # --- stop ---------------------------------------------------------------------------

    def release(self, domain: str) -> None:
        """Remove the taps *domain*'s records name. Never raises; idempotent."""
        if not self.state.taps():
            return
        try:
            with self.lock(f"release taps of {domain}"), self.ops.session():
                self._undo(domain)
        except (PyvirtError, OSError) as err:
            self.warn(f"could not remove the taps of domain '{domain}': {err}")

    def reconcile(self, starting: str | None = None) -> None:
        """Undo the records of domains that no longer run, and of *starting* (its start
        holds its lock, so whatever it has recorded is left from an earlier run). Lock
        held."""
        for domain in {t.domain for t in self.state.taps()}:
            if domain == starting or not self.busy(domain):
                self._undo(domain)

    def _undo(self, domain: str) -> None:
        for tap in self.state.taps():
            if tap.domain != domain:
                continue
            # only the tap the record saw made (same ifindex): a namesake made since is
            # someone else's; without an ifindex the tap never outlived its maker
            if tap.ifindex is not None and self.ops.ifindex(tap.name) == tap.ifindex:
                with contextlib.suppress(NetlinkCallError):
                    self.ops.delete(tap.name)
            self.state.drop_tap(tap.name)
