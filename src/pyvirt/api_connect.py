"""``virConnect`` and the ways to open one, with libvirt-python's names.

A connection is local (``qemu:///system`` or ``qemu:///embed?root=DIR``): there is no
daemon to authenticate to, so ``openAuth`` ignores its credentials and
``openReadOnly`` gives an ordinary connection (what it may change is what the caller's
file permissions on the state root allow).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from pyvirt.api_constants import (
    VIR_CONNECT_LIST_DOMAINS_ACTIVE,
    VIR_CONNECT_LIST_DOMAINS_AUTOSTART,
    VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT,
    VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT,
    VIR_CONNECT_LIST_DOMAINS_INACTIVE,
    VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE,
    VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART,
    VIR_CONNECT_LIST_DOMAINS_NO_CHECKPOINT,
    VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE,
    VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT,
    VIR_CONNECT_LIST_DOMAINS_OTHER,
    VIR_CONNECT_LIST_DOMAINS_PAUSED,
    VIR_CONNECT_LIST_DOMAINS_PERSISTENT,
    VIR_CONNECT_LIST_DOMAINS_RUNNING,
    VIR_CONNECT_LIST_DOMAINS_SHUTOFF,
    VIR_CONNECT_LIST_DOMAINS_TRANSIENT,
    VIR_DOMAIN_DEFINE_VALIDATE,
)
from pyvirt.api_domain import _check_flags, virDomain
from pyvirt.api_errors import _translated
from pyvirt.errors import NoDomainError
from pyvirt.runtime.hostinfo import free_memory, node_info
from pyvirt.runtime.state import DomainState
from pyvirt.service.context import Context
from pyvirt.service.domains import DomainService, DomainView
from pyvirt.store.roots import choose_uri


def version_number(version: tuple[int, int, int]) -> int:
    """libvirt's encoding of a version: major * 1 000 000 + minor * 1 000 + micro."""
    major, minor, micro = version
    return major * 1_000_000 + minor * 1_000 + micro


def pyvirt_version() -> int:
    """pyvirt's own version (0.1.0 -> 1000), what ``getLibVersion()`` answers."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("pyvirt")
    except PackageNotFoundError:
        return 0
    parts = [int(p) if p.isdigit() else 0 for p in text.split(".")[:3]]
    major, minor, micro = [*parts, 0, 0, 0][:3]
    return version_number((major, minor, micro))


# listAllDomains: groups of flags; within a group a domain passes if it has one of the
# properties asked for, and a group none of whose flags is given passes every domain
def _list_groups(svc: DomainService) -> list[list[tuple[int, Callable[[DomainView], bool]]]]:
    def other(v: DomainView) -> bool:
        return v.info.state not in (DomainState.RUNNING, DomainState.PAUSED,
                                    DomainState.SHUTOFF)

    return [
        [(VIR_CONNECT_LIST_DOMAINS_ACTIVE, lambda v: v.info.state.active),
         (VIR_CONNECT_LIST_DOMAINS_INACTIVE, lambda v: not v.info.state.active)],
        [(VIR_CONNECT_LIST_DOMAINS_PERSISTENT, lambda v: v.persistent),
         (VIR_CONNECT_LIST_DOMAINS_TRANSIENT, lambda v: not v.persistent)],
        [(VIR_CONNECT_LIST_DOMAINS_RUNNING, lambda v: v.info.state is DomainState.RUNNING),
         (VIR_CONNECT_LIST_DOMAINS_PAUSED, lambda v: v.info.state is DomainState.PAUSED),
         (VIR_CONNECT_LIST_DOMAINS_SHUTOFF, lambda v: v.info.state is DomainState.SHUTOFF),
         (VIR_CONNECT_LIST_DOMAINS_OTHER, other)],
        [(VIR_CONNECT_LIST_DOMAINS_AUTOSTART, lambda v: svc.store.autostart(v.name)),
         (VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART, lambda v: not svc.store.autostart(v.name))],
        # pyvirt keeps no managed save, snapshot or checkpoint
        [(VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE, lambda v: False),
         (VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE, lambda v: True)],
        [(VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT, lambda v: False),
         (VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT, lambda v: True)],
        [(VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT, lambda v: False),
         (VIR_CONNECT_LIST_DOMAINS_NO_CHECKPOINT, lambda v: True)],
    ]


class virConnect:
    def __init__(self, uri: str) -> None:
        self._uri = uri
        self._svc = DomainService(Context.open(uri))

    def close(self) -> int:
        return 0

    def isAlive(self) -> int:
        return 1

    def isSecure(self) -> int:
        """1: a local connection, nothing travels over a network."""
        return 1

    def isEncrypted(self) -> int:
        return 0

    # --- the host -----------------------------------------------------------------------

    def getURI(self) -> str:
        return self._uri

    def getType(self) -> str:
        return "QEMU"

    def getHostname(self) -> str:
        return socket.gethostname()

    @_translated
    def getVersion(self) -> int:
        """The default QEMU binary's version (7.2.0 -> 7002000), from its probed
        capabilities."""
        from pyvirt.qemu.machine import DEFAULT_EMULATOR

        return version_number(self._svc.ctx.caps_for(DEFAULT_EMULATOR).version)

    def getLibVersion(self) -> int:
        """pyvirt's version in libvirt's encoding (0.1.0 -> 1000): not libvirt's."""
        return pyvirt_version()

    def getInfo(self) -> list[Any]:
        """[model, memory MiB, cpus, mhz, NUMA nodes, sockets per node, cores per
        socket, threads per core], from /proc/cpuinfo, /proc/meminfo and sysfs."""
        return node_info()

    def getFreeMemory(self) -> int:
        """Free host memory in bytes."""
        return free_memory()

    # --- domains ------------------------------------------------------------------------

    def _wrap(self, name: str, uuid: str | None) -> virDomain:
        return virDomain(self, name, uuid or "")

    @_translated
    def defineXML(self, xml: str) -> virDomain:
        domain = self._svc.define_xml(xml)
        return self._wrap(domain.name, domain.uuid)

    @_translated
    def defineXMLFlags(self, xml: str, flags: int = 0) -> virDomain:
        """VALIDATE is accepted: pyvirt validates every definition against its schema."""
        _check_flags(flags, VIR_DOMAIN_DEFINE_VALIDATE, "virDomainDefineXMLFlags")
        return self.defineXML(xml)

    @_translated
    def lookupByName(self, name: str) -> virDomain:
        domain = self._svc.lookup(name)
        if domain.name != name:
            raise NoDomainError(f"no domain with matching name '{name}'")
        return self._wrap(domain.name, domain.uuid)

    @_translated
    def lookupByUUIDString(self, uuid: str) -> virDomain:
        domain = self._svc.lookup(uuid)
        return self._wrap(domain.name, domain.uuid)

    @_translated
    def lookupByID(self, id: int) -> virDomain:
        for view in self._svc.list_domains(False):
            if view.domid == id:
                return self._wrap(view.name, view.uuid)
        raise NoDomainError(f"no domain with matching id {id}")

    @_translated
    def listAllDomains(self, flags: int = 0) -> list[virDomain]:
        views = self._svc.list_domains(True)
        for group in _list_groups(self._svc):
            wanted = [test for bit, test in group if flags & bit]
            if wanted:
                views = [v for v in views if any(test(v) for test in wanted)]
        return [self._wrap(v.name, v.uuid) for v in views]

    @_translated
    def listDomainsID(self) -> list[int]:
        return [v.domid for v in self._svc.list_domains(False)]

    @_translated
    def numOfDomains(self) -> int:
        return len(self._svc.list_domains(False))

    @_translated
    def listDefinedDomains(self) -> list[str]:
        return [v.name for v in self._svc.list_domains(True)
                if v.persistent and not v.info.state.active]

    @_translated
    def numOfDefinedDomains(self) -> int:
        return len(self.listDefinedDomains())


@_translated
def open(uri: str | None = None) -> virConnect:
    """Open a connection (``None`` -> $PYVIRT_DEFAULT_URI, else qemu:///system);
    ``qemu+ssh://`` gives the API of that host (:mod:`pyvirt.api_remote`)."""
    chosen = choose_uri(uri)
    if chosen.startswith("qemu+"):
        from pyvirt.api_remote import RemoteConnect
        from pyvirt.store.roots import parse_uri

        target = parse_uri(chosen)
        if target.is_remote:
            return RemoteConnect(target)  # type: ignore[return-value]  # the same surface
    return virConnect(chosen)


def openReadOnly(uri: str | None = None) -> virConnect:
    """As :func:`open` (no daemon enforces read-only access: file permissions do)."""
    return open(uri)


def openAuth(uri: str | None, auth: Any = None, flags: int = 0) -> virConnect:
    """As :func:`open`; *auth* (``[credtypes, callback, opaque]``) is never called: a
    local connection asks for no credentials."""
    return open(uri)
