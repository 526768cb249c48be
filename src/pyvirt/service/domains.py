"""Use cases on domains: define, undefine, look up, list, start, stop, observe."""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from dataclasses import dataclass, replace
from pathlib import Path

from pyvirt.domain.io import domain_from_file, domain_from_xml
from pyvirt.domain.model import Domain
from pyvirt.errors import NoDomainError, OperationFailedError, OperationInvalidError
from pyvirt.qemu.define import emulator_of, prepare_definition
from pyvirt.runtime.failover import PairStatus
from pyvirt.runtime.state import DomainState, StateInfo
from pyvirt.service.context import Context
from pyvirt.store.domains import DomainStore


@dataclass(frozen=True)
class DomainView:
    """A domain as ``list``/``dominfo`` show it."""

    name: str
    uuid: str
    info: StateInfo
    persistent: bool
    pid: int | None
    domid: int
    definition: Domain


class DomainService:
    """Everything virsh does with domains, on one local connection."""

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
        domain = prepare_definition(domain, self.ctx.caps_for(emulator_of(domain)),
                                    self.ctx.new_mac())
        return self.define(domain)

    def define(self, domain: Domain) -> Domain:
        with self.runtime.lock(domain.name, "define"):
            existing = self.find_defined(domain.name)
            if existing is not None and domain.uuid and existing.uuid != domain.uuid:
                raise OperationFailedError(
                    f"domain '{domain.name}' is already defined with uuid {existing.uuid}")
            uuid = domain.uuid or (existing.uuid if existing else str(uuidlib.uuid4()))
            for other in self.store.all():
                if other.uuid == uuid and other.name != domain.name:
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
        return domain.name

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
        for domain in self.store.all():
            if domain.uuid == wanted:
                return domain
        raise NoDomainError(f"no domain with matching uuid '{ref}'")

    # --- observing ------------------------------------------------------------------

    def view(self, domain: Domain) -> DomainView:
        observed = asyncio.run(self.runtime.observe(domain.name))
        return DomainView(domain.name, domain.uuid or "", observed.info,
                          self.store.exists(domain.name),
                          observed.status.pid if observed.status else None,
                          observed.status.domid if observed.status else 0, domain)

    def list_domains(self, include_inactive: bool) -> list[DomainView]:
        names = set(self.store.names()) | set(self.running_names())
        views = []
        for name in sorted(names):
            try:
                view = self.view(self.lookup(name))
            except NoDomainError:
                continue
            if include_inactive or view.info.state.active:
                views.append(view)
        return views

    def running_names(self) -> list[str]:
        run = self.ctx.root.run_dir
        if not run.is_dir():
            return []
        return [p.name.removeprefix("domain-") for p in run.glob("domain-*")
                if (p / "status.json").exists()]

    def live_or_inactive(self, ref: str, inactive: bool) -> Domain:
        domain = self.lookup(ref)
        if not inactive:
            live = self.runtime.live_domain(domain.name)
            if live is not None and self.view(domain).info.state.active:
                return live
        return domain

    # --- lifecycle --------------------------------------------------------------------

    def start(self, ref: str, paused: bool = False) -> Domain:
        domain = self.lookup(ref)
        with self.runtime.lock(domain.name, "start"):
            domain = self.store.load(domain.name)
            caps = self.ctx.caps_for(emulator_of(domain))
            return asyncio.run(self.runtime.start(domain, caps, paused=paused))

    def destroy(self, ref: str) -> str:
        name = self.lookup(ref).name
        with self.runtime.lock(name, "destroy"):
            asyncio.run(self.runtime.destroy(name))
        return name

    def shutdown(self, ref: str, timeout: float) -> str:
        name = self.lookup(ref).name
        with self.runtime.lock(name, "shutdown", timeout=timeout + 30):
            asyncio.run(self.runtime.shutdown(name, timeout))
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
