"""Use cases on domains: define, undefine, look up, list, start, stop, observe."""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pyvirt.domain.io import DomainIdentity, domain_from_file, domain_from_xml, identity_from_xml
from pyvirt.domain.model import Domain
from pyvirt.errors import (
    NoDomainError,
    OperationFailedError,
    OperationInvalidError,
    PyvirtError,
)
from pyvirt.qemu.define import emulator_of, prepare_definition
from pyvirt.runtime.failover import PairStatus
from pyvirt.runtime.launch import forget_plan
from pyvirt.runtime.state import DomainState, StateInfo
from pyvirt.service.context import Context
from pyvirt.store.domains import DomainStore
from pyvirt.types import PciAddress

if TYPE_CHECKING:
    from pyvirt.qemu.caps import QemuCaps
    from pyvirt.runtime.domain import Observed

OBSERVE_CONCURRENCY = 16  # monitors queried at once by ``list`` (each may wait 2 s)


@dataclass(frozen=True)
class DomainView:
    """A domain as ``list``/``dominfo`` show it (the definition is the caller's: ``list``
    never parses one in full)."""

    name: str
    uuid: str
    info: StateInfo
    persistent: bool
    pid: int | None
    domid: int


class DomainService:
    """Everything virsh does with domains, on one local connection; also the
    :class:`~pyvirt.migration.ports.DomainOps` a migration gets."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = DomainStore(ctx.root.config_dir)
        self.runtime = ctx.runtime()

    # --- definitions ----------------------------------------------------------------

    def define_file(self, path: str | Path) -> Domain:
        """Validate, default and store a definition (replacing one of the same name).

        :raises PyvirtError: when invalid, or when name and UUID clash with another domain.
        """
        return self.define_prepared(domain_from_file(path))

    def define_xml(self, text: str) -> Domain:
        """Like :meth:`define_file`, from XML text."""
        return self.define_prepared(domain_from_xml(text))

    def define_prepared(self, domain: Domain) -> Domain:
        """Run the define pipeline on a parsed domain, then store it."""
        return self.define(self.prepare(domain)[0])

    def prepare(self, domain: Domain) -> tuple[Domain, QemuCaps]:
        """The define pipeline without storing: *domain* as :meth:`define_prepared`
        would store it, and the capabilities of its emulator it was checked against.

        :raises PyvirtError: when it is invalid, or its emulator cannot be probed.
        """
        caps = self.ctx.caps_for(emulator_of(domain))
        return prepare_definition(domain, caps, self.ctx.new_mac()), caps

    def room_for(self, domain: Domain, taken: list[PciAddress]) -> list[PciAddress]:
        """See :meth:`pyvirt.migration.ports.DomainOps.room_for`."""
        from pyvirt.service.hosthooks import sriov_host_for

        return sriov_host_for(self.ctx.root).room_for(domain, taken)

    def define(self, domain: Domain) -> Domain:
        with self.runtime.lock(domain.name, "define"):
            existing = self.find_defined(domain.name)
            if existing is not None and domain.uuid and existing.uuid != domain.uuid:
                raise OperationFailedError(
                    f"domain '{domain.name}' is already defined with uuid {existing.uuid}")
            uuid = domain.uuid or (existing.uuid if existing else None) or str(uuidlib.uuid4())
            for other in self.store.with_uuid(uuid):
                if other.name != domain.name:
                    raise OperationFailedError(
                        f"domain '{other.name}' already exists with uuid {uuid}")
            domain = replace(domain, uuid=uuid)
            self.store.save(domain)
            return domain

    def undefine(self, ref: str) -> str:
        domain = self.lookup(ref)
        with self.runtime.lock(domain.name, "undefine"):
            if not self.store.exists(domain.name):
                raise OperationInvalidError("cannot undefine transient domain")
            self.store.delete(domain.name)
            forget_plan(self.ctx.root, domain.name)
        return domain.name

    def autostart(self, ref: str) -> bool:
        """Whether *ref* is marked to start at boot (``pyvirt autostart``)."""
        return self.store.autostart(self.lookup(ref).name)

    def set_autostart(self, ref: str, enabled: bool) -> str:
        """Mark or unmark the defined domain *ref* to start at boot; its name.

        :raises OperationInvalidError: for a transient domain, as libvirt.
        """
        name = self.lookup(ref).name
        with self.runtime.lock(name, "autostart"):
            if not self.store.exists(name):
                raise OperationInvalidError("cannot set autostart for transient domain")
            self.store.set_autostart(name, enabled)
        return name

    def find_defined(self, name: str) -> Domain | None:
        try:
            return self.store.load(name)
        except NoDomainError:
            return None

    def lookup(self, ref: str) -> Domain:
        """By name, else by UUID; a running transient domain is found by its live XML.

        :raises NoDomainError: with virsh's wording.
        """
        if "/" not in ref:
            found = self.find_defined(ref) or self.runtime.live_domain(ref)
            if found is not None:
                return found
        try:
            wanted = str(uuidlib.UUID(ref))
        except ValueError:
            raise NoDomainError(f"no domain with matching name '{ref}'") from None
        for domain in self.store.with_uuid(wanted):
            return domain
        raise NoDomainError(f"no domain with matching uuid '{ref}'")

    # --- observing ------------------------------------------------------------------

    def view(self, domain: Domain) -> DomainView:
        observed = asyncio.run(self.runtime.observe(domain.name))
        return _view(domain.name, domain.uuid, self.store.exists(domain.name), observed)

    def list_domains(self, include_inactive: bool) -> list[DomainView]:
        """Defined and running domains by name; a damaged definition is skipped.

        Only the name and UUID of a definition are read (not the whole model), and only
        a domain with a run directory can be other than ``shut off``: those alone are
        observed (reconciled), together, in one event loop.
        """
        stored = set(self.store.names())
        running = set(self.running_names())
        found = [ident for name in sorted(stored | running)
                 if (ident := self._identity(name, name in stored, name in running))]
        observed = self._observe_all(sorted({ident.name for ident in found}
                                            & self._run_dir_names()))
        views = []
        for ident in found:
            view = _view(ident.name, ident.uuid, ident.name in stored,
                         observed.get(ident.name))
            if include_inactive or view.info.state.active:
                views.append(view)
        return views

    def _identity(self, name: str, stored: bool, running: bool) -> DomainIdentity | None:
        """Name and UUID of *name* from where :meth:`lookup` would find it: its
        definition, else (running) its live XML; None when neither is readable."""
        found = self.store.identity(name) if stored else None
        if found is None and running:
            try:
                found = identity_from_xml(self.runtime.run_dir(name).live_xml.read_bytes())
            except (OSError, PyvirtError):
                return None
        return found

    def _run_dir_names(self) -> set[str]:
        """Domains with a run directory; any other has nothing to observe (no status
        record, pidfile or last state): it is ``shut off``."""
        run = self.ctx.root.run_dir
        if not run.is_dir():
            return set()
        return {p.name.removeprefix("domain-") for p in run.glob("domain-*")}

    def _observe_all(self, names: list[str]) -> dict[str, Observed]:
        if not names:
            return {}

        async def observe_all() -> dict[str, Observed]:
            limit = asyncio.Semaphore(OBSERVE_CONCURRENCY)

            async def one(name: str) -> Observed:
                async with limit:
                    return await self.runtime.observe(name)

            return dict(zip(names, await asyncio.gather(*map(one, names)), strict=True))

        return asyncio.run(observe_all())

    def running_names(self) -> list[str]:
        """Domains with a status record (what ``list`` may show besides definitions)."""
        return [name for name in self._run_dir_names()
                if self.runtime.run_dir(name).status_file.exists()]

    def live_or_inactive(self, ref: str, inactive: bool) -> Domain:
        domain = self.lookup(ref)
        if not inactive:
            live = self.runtime.live_domain(domain.name)
            if live is not None and self.view(domain).info.state.active:
                return live
        return domain

    # --- lifecycle --------------------------------------------------------------------

    def start(self, ref: str, paused: bool = False) -> Domain:
        """Start *ref* on the full path (which leaves a launch plan for the next start
        when the domain may have one); the live domain. Callers go through
        :func:`pyvirt.service.lifecycle.start`, which tries the plan first."""
        domain = self.lookup(ref)
        with self.runtime.lock(domain.name, "start"):
            domain = self.store.load(domain.name)
            caps = self.ctx.caps_for(emulator_of(domain))
            return asyncio.run(self.runtime.start(domain, caps, paused=paused))

    def destroy(self, ref: str) -> str:
        """Stop *ref* at once on the full path (observe, reconcile, kill, give host
        resources back); its name. Callers go through
        :func:`pyvirt.service.lifecycle.destroy`, which tries the records first."""
        name = self.lookup(ref).name
        with self.runtime.lock(name, "destroy"):
            asyncio.run(self.runtime.destroy(name))
        return name

    def shutdown(self, ref: str, timeout: float) -> str:
        name = self.lookup(ref).name
        with self.runtime.lock(name, "shutdown", timeout=timeout + 30):
            asyncio.run(self.runtime.shutdown(name, timeout))
        return name

    def reboot(self, ref: str, timeout: float) -> str:
        """ACPI power button, then reset once the guest is off (see Runtime.reboot)."""
        name = self.lookup(ref).name
        with self.runtime.lock(name, "reboot", timeout=timeout + 30):
            asyncio.run(self.runtime.reboot(name, timeout))
        return name

    def reset(self, ref: str) -> str:
        name = self.lookup(ref).name
        with self.runtime.lock(name, "reset"):
            asyncio.run(self.runtime.reset(name))
        return name

    def set_paused(self, ref: str, pause: bool) -> str:
        name = self.lookup(ref).name
        with self.runtime.lock(name, "suspend" if pause else "resume"):
            asyncio.run(self.runtime.set_paused(name, pause))
        return name

    def failover(self, ref: str) -> tuple[PairStatus, ...]:
        name = self.lookup(ref).name
        if not self.view(self.lookup(name)).info.state.active:
            raise OperationInvalidError("domain is not running")
        return asyncio.run(self.runtime.failover(name))

    def state(self, ref: str) -> StateInfo:
        return self.view(self.lookup(ref)).info

    def is_running(self, ref: str) -> bool:
        return self.state(ref).state is DomainState.RUNNING


def _view(name: str, uuid: str | None, persistent: bool,
          observed: Observed | None) -> DomainView:
    """*observed* None: nothing to observe, the domain is ``shut off``."""
    if observed is None:
        return DomainView(name, uuid or "", StateInfo(DomainState.SHUTOFF), persistent,
                          None, 0)
    status = observed.status
    return DomainView(name, uuid or "", observed.info, persistent,
                      status.pid if status else None, status.domid if status else 0)
