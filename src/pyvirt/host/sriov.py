"""SR-IOV host resources of a state root: pyvirt's :class:`HostHooks`.

``prepare`` (before QEMU starts, also for an incoming migration), under one host lock:

1. reconcile: records left by a pyvirt or QEMU that died (claims of domains no longer
   running, and the domain being started itself) are undone first;
2. pool interfaces get a free VF from their hostdev network;
3. preflight checks every device (nothing changed yet);
4. per device, in document order: **claim** (crash record), **bind** vfio-pci
   (``managed``), **save** the VF's admin MAC and VLAN, **set MAC**, **set VLAN**.
   A failure gives back everything claimed so far, in reverse.

``release`` (every stop path) undoes each claim of the domain: **restore** the saved MAC
and VLAN, then **rebind** the original driver, then drop the claim. It never raises:
what cannot be given back stays recorded, so the next start or ``nodedev-reattach``
retries. A domain without host devices costs one directory listing.

``prepare_device`` / ``release_device`` do the same for one device of a running domain
(hot-plug and hot-unplug).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyvirt.domain.model import Domain, Hostdev, Interface, PciHostdev
from pyvirt.errors import (
    ConfigUnsupportedError,
    HostError,
    NetlinkCallError,
    NoNetworkError,
    NoNodeDeviceError,
    OperationInvalidError,
    PyvirtError,
)
from pyvirt.host import vfio
from pyvirt.host.giveback import GiveBack
from pyvirt.host.netlink import Netlink
from pyvirt.host.netstate import Claim, HostState, SavedVf
from pyvirt.host.plan import (
    Assignment,
    PoolRequest,
    VfProgram,
    device_at,
    plan_devices,
    pool_assignment,
    pool_interface,
    with_device,
    with_interface,
)
from pyvirt.host.pools import NetworkStore
from pyvirt.host.preflight import in_use_message, preflight
from pyvirt.host.sysfs import VFIO_DRIVER, PciDevice, Sysfs, nodedev_name
from pyvirt.host.vfnet import set_admin_mac, set_vlan
from pyvirt.network.model import HostdevForward, Network
from pyvirt.store.locks import DomainLock
from pyvirt.store.roots import StateRoot
from pyvirt.types import PciAddress

Warn = Callable[[str], None]


class SriovHost:
    """VFIO assignment, VF MAC/VLAN programming and hostdev pools of one state root.

    *busy* tells whether a domain may still hold its devices (its QEMU runs, or a pyvirt
    is changing it); claims of other domains are stale and reconciled.
    """

    def __init__(self, root: StateRoot, *, sysfs: Sysfs, netlink: Netlink,
                 busy: Callable[[str], bool], warn: Warn,
                 state: HostState | None = None, networks: NetworkStore | None = None,
                 lock_timeout: float = 60.0) -> None:
        self.sysfs = sysfs
        self.netlink = netlink
        self.busy = busy
        self.warn = warn
        self.state = state or HostState.of(root)
        self.networks = networks or NetworkStore(root, sysfs)
        self.lock_timeout = lock_timeout
        self.giveback = GiveBack(sysfs, netlink, self.state, warn)

    def lock(self, job: str) -> DomainLock:
        """The host-wide lock every change of claims and devices holds."""
        return DomainLock(self.state.directory, "devices", job, self.lock_timeout)

    # --- HostHooks ----------------------------------------------------------------------

    def prepare(self, live: Domain) -> Domain:
        """Claim, bind and program every device of *live*; returns *live* with pool
        interfaces turned into hostdev interfaces on their VF.

        :raises PyvirtError: naming the device or pool that failed; nothing stays claimed.
        """
        fixed, requests = plan_devices(live)
        pools = [(req, net) for req in requests if (net := self._pool(req)) is not None]
        if not fixed and not pools:
            if self.state.has_records():
                with self.lock(f"reconcile ({live.name})"):
                    self.reconcile(starting=live.name)
            return live
        with self.lock(f"prepare {live.name}"):
            self.reconcile(starting=live.name)
            live, allocated = self._allocate(live, pools, fixed)
            assignments = [*fixed, *allocated]
            devices = preflight(self.sysfs, assignments, self._holder)
            self._apply(live.name, assignments, devices)
        return live

    def room_for(self, live: Domain, taken: Sequence[PciAddress] = ()) -> list[PciAddress]:
        """The VFs :meth:`prepare` would give *live*'s pool interfaces now, when the VFs in
        *taken* are spoken for too (by guests planned to arrive before it). Claims nothing.

        :raises PyvirtError: as :meth:`prepare` would: no such pool, pool not started,
            pool exhausted.
        """
        fixed, requests = plan_devices(live)
        pools = [(req, net) for req in requests if (net := self._pool(req)) is not None]
        _live, allocated = self._allocate(live, pools, fixed, also_taken=taken)
        return [a.device for a in allocated]

    def release(self, live: Domain) -> None:
        """Give back every device *live*'s domain holds. Never raises; idempotent."""
        if not self.state.has_records():
            return
        try:
            with self.lock(f"release {live.name}"):
                for claim in list(self.state.claims()):
                    if claim.domain == live.name:
                        self.giveback.undo_quietly(claim)
        except (PyvirtError, OSError) as err:
            self.warn(f"could not release the host devices of domain '{live.name}': {err}")

    # --- hot-plug (runtime.hotplug.DeviceHostHooks) -----------------------------------

    def prepare_device(self, live: Domain, dev: Interface | Hostdev) -> Interface | Hostdev:
        """Hot-plug: claim, bind and program what *dev* needs while *live* (which does not
        have it yet) runs. Returns *dev* with allocations filled in: a pool interface
        comes back as a hostdev interface on its VF.

        :raises PyvirtError: as :meth:`prepare`; nothing stays claimed.
        """
        wanted, where = with_device(live, dev)
        fixed, requests = plan_devices(wanted)
        fixed = [a for a in fixed if a.where == where]
        pools = [(req, net) for req in requests if ("interfaces", req.index) == where
                 and (net := self._pool(req)) is not None]
        if not fixed and not pools:
            return dev
        with self.lock(f"hot-plug {live.name}"):
            self.reconcile()
            wanted, allocated = self._allocate(wanted, pools, fixed)
            assignments = [*fixed, *allocated]
            self._apply(live.name, assignments,
                        preflight(self.sysfs, assignments, self._holder))
        return device_at(wanted, where)

    def release_device(self, live: Domain, dev: Interface | Hostdev) -> None:
        """Hot-unplug: give back what *dev* of *live*'s domain held. Never raises."""
        addr = dev.source if isinstance(dev, PciHostdev) else \
            dev.vf if isinstance(dev, Interface) else None
        if addr is None or not self.state.has_records():
            return
        try:
            with self.lock(f"hot-unplug {live.name}"):
                claim = self.state.claim(addr)
                if claim is not None and claim.domain == live.name:
                    self.giveback.undo_quietly(claim)
        except (PyvirtError, OSError) as err:
            self.warn(f"could not release PCI device {addr} of domain '{live.name}': {err}")

    # --- node devices -----------------------------------------------------------------

    def nodedev_detach(self, addr: PciAddress) -> None:
        """``virsh nodedev-detach``: bind *addr* to vfio-pci for ``managed='no'`` use.

        :raises NoNodeDeviceError: no such device. :raises OperationInvalidError: a
            running guest holds it. :raises PyvirtError: the bind failed.
        """
        with self.lock("nodedev-detach"):
            self._free_for_node_command(addr)
            vfio.detach(self.sysfs, addr)

    def nodedev_reattach(self, addr: PciAddress) -> None:
        """``virsh nodedev-reattach``: restore a VF config a crash left saved, then give
        *addr* back to its host driver.

        :raises NoNodeDeviceError: no such device. :raises OperationInvalidError: a
            running guest holds it. :raises PyvirtError: restoring or rebinding failed.
        """
        with self.lock("nodedev-reattach"):
            self._free_for_node_command(addr)
            for saved in self.state.saved_vfs():
                if saved.device == addr:
                    self.giveback.restore(saved)
            if self.sysfs.driver_of(addr) == VFIO_DRIVER:
                vfio.reattach(self.sysfs, addr)

    def _free_for_node_command(self, addr: PciAddress) -> None:
        if not self.sysfs.exists(addr):
            raise NoNodeDeviceError(f"no node device with matching name '{nodedev_name(addr)}'")
        claim = self.state.claim(addr)
        if claim is not None:
            if self.busy(claim.domain):
                raise OperationInvalidError(in_use_message(addr, claim.domain))
            self.giveback.undo(claim)  # left by a guest that is gone

    # --- reconciliation ---------------------------------------------------------------

    def reconcile(self, starting: str | None = None) -> None:
        """Undo what dead guests and interrupted pyvirt commands left (lock held); see
        :meth:`GiveBack.reconcile`."""
        self.giveback.reconcile(self.busy, starting)

    def _holder(self, addr: PciAddress) -> str | None:
        """After reconciliation every remaining claim belongs to a busy domain."""
        claim = self.state.claim(addr)
        return claim.domain if claim is not None else None

    # --- allocation and assignment ----------------------------------------------------

    def _pool(self, req: PoolRequest) -> Network | None:
        """The active pool *req* names; None for a network that is not a pool here (a
        non-teamed interface is left to the command builder).

        :raises ConfigUnsupportedError: the persistent member of a pair names a pool.
        :raises NoNetworkError: a transient member names no pool.
        :raises OperationInvalidError: the pool is defined but not started.
        """
        net = self.networks.active(req.network)
        if net is not None and req.persistent:
            raise ConfigUnsupportedError(
                f"teaming persistent {req.who} must not use network '{req.network}', a "
                "hostdev pool: the persistent member is the emulated virtio NIC that stays "
                "plugged")
        if net is not None and not isinstance(net.forward, HostdevForward):
            bridge = net.bridge or "BRIDGE"
            raise ConfigUnsupportedError(
                f"{req.who} uses network '{req.network}', a host bridge: pyvirt does not "
                "resolve bridge networks for an interface yet; use <interface "
                f"type='bridge'><source bridge='{bridge}'/></interface>")
        if net is not None:
            return net
        if self.networks.defined(req.network) is not None:
            raise OperationInvalidError(f"network '{req.network}' is not active")
        if req.transient:
            raise NoNetworkError(f"no network with matching name '{req.network}'")
        return None

    def _allocate(self, live: Domain, pools: Sequence[tuple[PoolRequest, Network]],
                  fixed: Sequence[Assignment], also_taken: Sequence[PciAddress] = ()
                  ) -> tuple[Domain, list[Assignment]]:
        """A free VF for each pool interface: claimed by nobody, not fixed elsewhere in
        this domain, present on the host; first in pool order.

        :raises HostError: in libvirt's words when a pool is exhausted.
        """
        taken = {c.device for c in self.state.claims()} | {a.device for a in fixed} \
            | set(also_taken)
        original = live
        allocated = []
        for req, net in pools:
            pool = net.hostdev
            vf = next((a for a in pool.addresses if a not in taken and self.sysfs.exists(a)),
                      None)
            if vf is None:
                raise HostError(f"network '{net.name}' requires exclusive access to "
                                "interfaces, but none are available")
            taken.add(vf)
            allocated.append(pool_assignment(original, req, vf, pool.managed, net.name,
                                             net.vlan))
            iface = original.devices.interfaces[req.index]
            live = with_interface(live, req.index,
                                  pool_interface(iface, vf, pool.managed, net.vlan))
        return live, allocated

    def _apply(self, domain: str, assignments: Sequence[Assignment],
               devices: dict[PciAddress, PciDevice]) -> None:
        done: list[Claim] = []
        try:
            for a in assignments:
                dev = devices[a.device]
                net = (dev.pf_netdev, dev.vf_index) if a.program is not None \
                    and dev.pf_netdev is not None and dev.vf_index is not None else None
                claim = Claim(a.device, domain, a.managed, dev.driver, net, a.pool)
                self.state.write_claim(claim)
                done.append(claim)
                if a.managed:
                    vfio.detach(self.sysfs, a.device)
                if a.program is not None and net is not None:
                    self._program(a.device, a.program, *net)
                elif a.partner_mac is not None:
                    self._check_partner_mac(a, dev)
        except BaseException:
            for claim in reversed(done):
                self.giveback.undo_quietly(claim)
            raise

    def _program(self, device: PciAddress, program: VfProgram, pf: str, vf: int) -> None:
        """Save the VF's admin MAC and VLAN, then set the member's."""
        current = self.netlink.get_vf(pf, vf)
        self.state.save_vf(SavedVf(pf, vf, device, current.mac, current.vlan))
        if program.mac is not None:
            set_admin_mac(self.netlink, pf, vf, program.mac, self.warn)
        set_vlan(self.netlink, pf, vf, program.vlan)

    def _check_partner_mac(self, a: Assignment, dev: PciDevice) -> None:
        """A plain ``<hostdev>`` transient member: nothing programs its MAC, so say so
        when the VF's admin MAC will not let the guest pair it (libvirt D.6)."""
        if dev.pf_netdev is None or dev.vf_index is None:
            return
        try:
            current = self.netlink.get_vf(dev.pf_netdev, dev.vf_index)
        except NetlinkCallError:
            return
        if current.mac != a.partner_mac:
            self.warn(
                f"{a.who} is VF {dev.vf_index} of {dev.pf_netdev} with admin MAC "
                f"{current.mac}, but its persistent partner has MAC {a.partner_mac}: the "
                "guest will not pair them; run 'ip link set "
                f"{dev.pf_netdev} vf {dev.vf_index} mac {a.partner_mac}' or use "
                "<interface type='hostdev'>, whose MAC pyvirt programs")
