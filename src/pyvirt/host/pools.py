"""Hostdev network pools of a state root: define, undefine, start, destroy, list.

Stored like domains: the definition in ``<config_dir>/networks/<name>.xml`` (persistent),
the running form in ``<run_dir>/networks/<name>.xml`` (active; a ``<pf>`` is expanded
into the list of its VFs when the pool starts, as libvirt does). Every change is an
atomic write under one lock. Which VF a guest holds is not kept here but in the host's
claims (:mod:`pyvirt.host.netstate`), so a pool never hands out a VF twice and a crashed
guest's VF returns to the pool when its claim is reconciled.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pyvirt.errors import (
    HostError,
    NoNetworkError,
    OperationInvalidError,
    PyvirtError,
)
from pyvirt.host.sysfs import Sysfs
from pyvirt.network.model import HostdevForward, Network
from pyvirt.network.xml import network_from_xml, network_to_xml
from pyvirt.store.atomic import remove_file, write_atomic
from pyvirt.store.locks import DomainLock
from pyvirt.store.roots import StateRoot


@dataclass(frozen=True)
class NetworkView:
    """One row of ``net-list``."""

    network: Network
    active: bool
    persistent: bool

    @property
    def name(self) -> str:
        return self.network.name


class NetworkStore:
    """The hostdev pools of one state root."""

    def __init__(self, root: StateRoot, sysfs: Sysfs,
                 new_uuid: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.config_dir = root.config_dir / "networks"
        self.run_dir = root.run_dir / "networks"
        self.sysfs = sysfs
        self.new_uuid = new_uuid

    def _lock(self, job: str) -> DomainLock:
        return DomainLock(self.run_dir, "networks", job)

    def _config(self, name: str) -> Path:
        return self.config_dir / f"{name}.xml"

    def _live(self, name: str) -> Path:
        return self.run_dir / f"{name}.xml"

    @staticmethod
    def _read(path: Path) -> Network | None:
        try:
            return network_from_xml(path.read_bytes())
        except (OSError, PyvirtError):
            return None

    def defined(self, name: str) -> Network | None:
        return self._read(self._config(name))

    def active(self, name: str) -> Network | None:
        """The running pool *name* (its VF list expanded), else None."""
        return self._read(self._live(name))

    def lookup(self, name: str) -> NetworkView:
        """:raises NoNetworkError: when no pool has that name."""
        live, config = self.active(name), self.defined(name)
        found = live or config
        if found is None:
            raise NoNetworkError(f"no network with matching name '{name}'")
        return NetworkView(found, live is not None, config is not None)

    def list_networks(self, include_inactive: bool) -> list[NetworkView]:
        names = {p.stem for d in (self.config_dir, self.run_dir) if d.is_dir()
                 for p in d.glob("*.xml")}
        views = []
        for name in sorted(names):
            try:
                view = self.lookup(name)
            except NoNetworkError:
                continue  # unreadable file: not a pool
            if view.active or include_inactive:
                views.append(view)
        return views

    def define_xml(self, text: bytes | str) -> Network:
        """Store a definition (keeping the UUID of an existing one of that name).

        :raises PyvirtError: for bad XML, or a UUID that contradicts the existing one.
        """
        net = network_from_xml(text)
        with self._lock("define"):
            old = self.defined(net.name) or self.active(net.name)
            if old is not None and net.uuid and old.uuid and net.uuid != old.uuid:
                raise OperationInvalidError(
                    f"network '{net.name}' already exists with uuid {old.uuid}")
            net = replace(net, uuid=net.uuid or (old.uuid if old else None)
                          or self.new_uuid())
            write_atomic(self._config(net.name), network_to_xml(net))
        return net

    def define_file(self, path: str) -> Network:
        """:raises SystemCallError: when *path* cannot be read; see :meth:`define_xml`."""
        from pyvirt.domain.xml.document import read_user_file

        return self.define_xml(read_user_file(path)[0])

    def undefine(self, name: str) -> None:
        """Forget the definition; a running pool keeps running (transient) until
        destroyed. :raises NoNetworkError: when there is no definition."""
        with self._lock("undefine"):
            if not self._config(name).exists():
                raise NoNetworkError(f"no network with matching name '{name}'")
            remove_file(self._config(name))

    def start(self, name: str) -> Network:
        """Activate the pool: a ``<pf>`` becomes the list of its current VFs.

        :raises NoNetworkError: unknown name.
        :raises OperationInvalidError: already active.
        :raises HostError: the PF has no VFs (``sriov_numvfs`` is 0?).
        """
        with self._lock("start"):
            net = self.defined(name)
            if net is None:
                raise NoNetworkError(f"no network with matching name '{name}'")
            if self._live(name).exists():
                raise OperationInvalidError("network is already active")
            pool = net.forward
            if isinstance(pool, HostdevForward) and pool.pf is not None:
                vfs = self.sysfs.vfs_of_netdev(pool.pf)
                if not vfs:
                    raise HostError(f"No usable Vf's present on SRIOV PF {pool.pf}")
                net = replace(net, forward=replace(pool, addresses=vfs))
            write_atomic(self._live(name), network_to_xml(net))
        return net

    def destroy(self, name: str) -> None:
        """Deactivate the pool. VFs guests hold stay theirs until they stop.

        :raises NoNetworkError: unknown name. :raises OperationInvalidError: not active.
        """
        with self._lock("destroy"):
            if not self._live(name).exists():
                if self.defined(name) is None:
                    raise NoNetworkError(f"no network with matching name '{name}'")
                raise OperationInvalidError("network is not active")
            remove_file(self._live(name))

    def dumpxml(self, name: str, inactive: bool = False) -> str:
        """:raises NoNetworkError: unknown name."""
        view = self.lookup(name)
        net = (self.defined(name) or view.network) if inactive else view.network
        return network_to_xml(net)
