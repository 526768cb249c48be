"""Host resources a guest holds while it runs (VFIO devices, VF MAC/VLAN, pool VFs).

The runtime calls :meth:`HostHooks.prepare` before QEMU starts (also for an incoming
migration) and :meth:`HostHooks.release` after QEMU is gone, on every path: destroy,
shutdown, crash found later, failed start, migrated away. The default does nothing;
``pyvirt.host`` provides the SR-IOV implementation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from pyvirt.domain.model import Domain
from pyvirt.qemu.tapnic import NicFds


class HostHooks(Protocol):
    def prepare(self, live: Domain) -> Domain:
        """Claim what *live* needs on this host; return it with allocations filled in
        (e.g. the VF a network-pool interface got). :raises PyvirtError: naming what is
        missing; anything claimed before the failure is given back first."""
        ...

    def release(self, live: Domain) -> None:
        """Give back everything *live* held. Must not raise; idempotent."""
        ...


class NoHostResources:
    """For guests without passthrough devices (and hosts without SR-IOV)."""

    def prepare(self, live: Domain) -> Domain:
        return live

    def release(self, live: Domain) -> None:
        return None


class NicConnection(Protocol):
    """The tap NICs of a domain about to start: the live domain (``<target dev>`` of
    each tap), the fd plan for the command builder, the descriptors QEMU inherits."""

    @property
    def domain(self) -> Domain: ...

    @property
    def fds(self) -> Mapping[str, NicFds]: ...

    @property
    def pass_fds(self) -> tuple[int, ...]: ...

    def close(self) -> None:
        """Close pyvirt's copies of the descriptors (QEMU keeps its own)."""
        ...


@runtime_checkable
class NicHooks(Protocol):
    """Host hooks that create the taps of ``bridge``/``ethernet`` NICs (after
    :meth:`HostHooks.prepare`; :meth:`HostHooks.release` removes them too)."""

    def connect_nics(self, live: Domain) -> NicConnection:
        """:raises PyvirtError: in libvirt's words; nothing made stays behind."""
        ...

    def holds_nics(self, name: str) -> bool:
        """Whether records say the domain *name* has taps or macvtaps (cheap)."""
        ...

    def release_nics(self, name: str) -> None:
        """Remove them: the domain does not run (a start died before QEMU did). Never
        raises."""
        ...
