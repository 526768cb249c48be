"""What a migration needs from the use-case layer above it: a port, not an import.

``migration/`` sits below ``service/``; :class:`DomainOps` says what the source and the
destination side use of a connection's domains, and ``service/`` passes an
implementation in (:class:`pyvirt.service.domains.DomainService`), as the runtime gets
its host resources through :class:`pyvirt.runtime.hooks.HostHooks`.
"""

from __future__ import annotations

from typing import Protocol

from pyvirt.domain.model import Domain
from pyvirt.qemu.caps import QemuCaps
from pyvirt.runtime.domain import Runtime
from pyvirt.store.domains import DomainStore
from pyvirt.types import PciAddress


class DomainOps(Protocol):
    """The domains of one local connection, as a migration uses them."""

    @property
    def runtime(self) -> Runtime:
        """The running side of the connection's state root."""
        ...

    @property
    def store(self) -> DomainStore:
        """The stored (persistent) definitions."""
        ...

    def find_defined(self, name: str) -> Domain | None:
        """The stored definition of *name*; None when there is none."""
        ...

    def prepare(self, domain: Domain) -> tuple[Domain, QemuCaps]:
        """*domain* as ``define`` would store it on this host (validated, defaulted,
        placed), with the capabilities of its emulator it was checked against. Stores
        nothing; may probe the emulator (blocking: async callers use a thread).

        :raises PyvirtError: when the definition is not valid here.
        """
        ...

    def room_for(self, domain: Domain, taken: list[PciAddress]) -> list[PciAddress]:
        """The host devices (VFs) *domain* would get here if it arrived now, with the ones
        in *taken* already spoken for. Claims nothing.

        :raises PyvirtError: when this host cannot give it what it needs.
        """
        ...
