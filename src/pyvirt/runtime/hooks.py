"""Host resources a guest holds while it runs (VFIO devices, VF MAC/VLAN, pool VFs).

The runtime calls :meth:`HostHooks.prepare` before QEMU starts (also for an incoming
migration) and :meth:`HostHooks.release` after QEMU is gone, on every path: destroy,
shutdown, crash found later, failed start, migrated away. The default does nothing;
``pyvirt.host`` provides the SR-IOV implementation.
"""

from __future__ import annotations

from typing import Protocol

from pyvirt.domain.model import Domain


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
