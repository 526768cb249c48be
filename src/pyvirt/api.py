"""The Python API, in libvirt-python's shape, so scripts port with an import change.

    import pyvirt as libvirt
    conn = libvirt.open("qemu:///embed?root=/tmp/host-a")
    dom = conn.defineXML(xml)
    dom.create()

Every failure is a :class:`libvirtError` carrying the same message the CLI prints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pyvirt.api_errors import _translated
from pyvirt.api_errors import libvirtError as libvirtError
from pyvirt.domain.io import domain_to_xml
from pyvirt.errors import VIR_ERR_CONF_SYNTAX as VIR_ERR_CONF_SYNTAX
from pyvirt.errors import VIR_ERR_CONFIG_UNSUPPORTED as VIR_ERR_CONFIG_UNSUPPORTED
from pyvirt.errors import VIR_ERR_DEVICE_MISSING as VIR_ERR_DEVICE_MISSING
from pyvirt.errors import VIR_ERR_ERROR as VIR_ERR_ERROR
from pyvirt.errors import VIR_ERR_INTERNAL_ERROR as VIR_ERR_INTERNAL_ERROR
from pyvirt.errors import VIR_ERR_INVALID_ARG as VIR_ERR_INVALID_ARG
from pyvirt.errors import VIR_ERR_NO_DOMAIN as VIR_ERR_NO_DOMAIN
from pyvirt.errors import VIR_ERR_NO_NETWORK as VIR_ERR_NO_NETWORK
from pyvirt.errors import VIR_ERR_NO_NODE_DEVICE as VIR_ERR_NO_NODE_DEVICE
from pyvirt.errors import VIR_ERR_OPERATION_ABORTED as VIR_ERR_OPERATION_ABORTED
from pyvirt.errors import VIR_ERR_OPERATION_FAILED as VIR_ERR_OPERATION_FAILED
from pyvirt.errors import VIR_ERR_OPERATION_INVALID as VIR_ERR_OPERATION_INVALID
from pyvirt.errors import VIR_ERR_OPERATION_TIMEOUT as VIR_ERR_OPERATION_TIMEOUT
from pyvirt.errors import VIR_ERR_OPERATION_UNSUPPORTED as VIR_ERR_OPERATION_UNSUPPORTED
from pyvirt.errors import VIR_ERR_RPC as VIR_ERR_RPC
from pyvirt.errors import VIR_ERR_SYSTEM_ERROR as VIR_ERR_SYSTEM_ERROR
from pyvirt.errors import VIR_ERR_XML_ERROR as VIR_ERR_XML_ERROR
from pyvirt.errors import VIR_ERR_XML_INVALID_SCHEMA as VIR_ERR_XML_INVALID_SCHEMA
from pyvirt.errors import VIR_FROM_CONF as VIR_FROM_CONF
from pyvirt.errors import VIR_FROM_NETWORK as VIR_FROM_NETWORK
from pyvirt.errors import VIR_FROM_NODEDEV as VIR_FROM_NODEDEV
from pyvirt.errors import VIR_FROM_QEMU as VIR_FROM_QEMU
from pyvirt.errors import VIR_FROM_RPC as VIR_FROM_RPC
from pyvirt.errors import NoDomainError
from pyvirt.runtime.state import DomainState
from pyvirt.service import lifecycle
from pyvirt.service.context import Context
from pyvirt.service.devices import (
    AFFECT_CONFIG,
    AFFECT_CURRENT,
    AFFECT_LIVE,
    DeviceService,
    parse_devices,
)
from pyvirt.service.domains import DomainService
from pyvirt.store.roots import choose_uri

F = TypeVar("F", bound=Callable[..., Any])

VIR_DOMAIN_NOSTATE = DomainState.NOSTATE.number
VIR_DOMAIN_RUNNING = DomainState.RUNNING.number
VIR_DOMAIN_BLOCKED = DomainState.BLOCKED.number
VIR_DOMAIN_PAUSED = DomainState.PAUSED.number
VIR_DOMAIN_SHUTDOWN = DomainState.SHUTDOWN.number
VIR_DOMAIN_SHUTOFF = DomainState.SHUTOFF.number
VIR_DOMAIN_CRASHED = DomainState.CRASHED.number
VIR_DOMAIN_START_PAUSED = 1
VIR_DOMAIN_XML_INACTIVE = 2
VIR_CONNECT_LIST_DOMAINS_ACTIVE = 1
VIR_CONNECT_LIST_DOMAINS_INACTIVE = 2
VIR_DOMAIN_AFFECT_CURRENT = AFFECT_CURRENT
VIR_DOMAIN_AFFECT_LIVE = AFFECT_LIVE
VIR_DOMAIN_AFFECT_CONFIG = AFFECT_CONFIG
VIR_DOMAIN_DEVICE_MODIFY_CURRENT = AFFECT_CURRENT
VIR_DOMAIN_DEVICE_MODIFY_LIVE = AFFECT_LIVE
VIR_DOMAIN_DEVICE_MODIFY_CONFIG = AFFECT_CONFIG


class virDomain:
    def __init__(self, conn: virConnect, name: str, uuid: str) -> None:
        self._conn = conn
        self._name = name
        self._uuid = uuid

    @property
    def _svc(self) -> DomainService:
        return self._conn._svc

    def name(self) -> str:
        return self._name

    def UUIDString(self) -> str:
        return self._uuid

    @_translated
    def create(self) -> int:
        lifecycle.start(self._svc.ctx, self._name, svc=self._svc)
        return 0

    @_translated
    def createWithFlags(self, flags: int = 0) -> int:
        lifecycle.start(self._svc.ctx, self._name, paused=bool(flags & VIR_DOMAIN_START_PAUSED),
                        svc=self._svc)
        return 0

    @_translated
    def destroy(self) -> int:
        lifecycle.destroy(self._svc.ctx, self._name, svc=self._svc)
        return 0

    @_translated
    def shutdown(self, timeout: float = 60.0) -> int:
        self._svc.shutdown(self._name, timeout)
        return 0

    @_translated
    def suspend(self) -> int:
        self._svc.set_paused(self._name, True)
        return 0

    @_translated
    def resume(self) -> int:
        self._svc.set_paused(self._name, False)
        return 0

    @_translated
    def undefine(self) -> int:
        self._svc.undefine(self._name)
        return 0

    @_translated
    def XMLDesc(self, flags: int = 0) -> str:
        inactive = bool(flags & VIR_DOMAIN_XML_INACTIVE)
        return domain_to_xml(self._svc.live_or_inactive(self._name, inactive))

    @_translated
    def state(self, flags: int = 0) -> list[int]:
        info = self._svc.state(self._name)
        return [info.state.number, list(type(info.reason)).index(info.reason)]

    @_translated
    def info(self) -> list[int]:
        d = self._svc.lookup(self._name)
        view = self._svc.view(d)
        return [view.info.state.number, d.memory, d.current_memory or d.memory,
                d.vcpu.current or d.vcpu.count, 0]

    @_translated
    def isActive(self) -> int:
        return int(self._svc.state(self._name).state.active)

    @_translated
    def ID(self) -> int:
        view = self._svc.view(self._svc.lookup(self._name))
        return view.domid if view.info.state.active else -1

    @_translated
    def failoverStatus(self) -> list[dict[str, object]]:
        """pyvirt extension: one dict per teaming pair (see ``pyvirt domfailover``)."""
        return [p.as_dict() for p in self._svc.failover(self._name)]

    # --- devices (``pyvirt attach-device`` ...; XML may hold several in <devices>) ------

    @property
    def _devices(self) -> DeviceService:
        return DeviceService(self._svc)

    @_translated
    def attachDevice(self, xml: str) -> int:
        self._devices.attach(self._name, parse_devices(xml), VIR_DOMAIN_AFFECT_LIVE)
        return 0

    @_translated
    def attachDeviceFlags(self, xml: str, flags: int = 0) -> int:
        self._devices.attach(self._name, parse_devices(xml), flags)
        return 0

    @_translated
    def detachDevice(self, xml: str) -> int:
        self._devices.detach(self._name, parse_devices(xml), VIR_DOMAIN_AFFECT_LIVE)
        return 0

    @_translated
    def detachDeviceFlags(self, xml: str, flags: int = 0) -> int:
        """0 also when the guest has not released the device yet (as libvirt)."""
        self._devices.detach(self._name, parse_devices(xml), flags)
        return 0

    @_translated
    def detachDeviceAlias(self, alias: str, flags: int = 0) -> int:
        self._devices.detach(self._name, [alias], flags)
        return 0

    @_translated
    def updateDeviceFlags(self, xml: str, flags: int = 0) -> int:
        """Only an interface's ``<link state>`` can change."""
        self._devices.update(self._name, parse_devices(xml), flags)
        return 0


class virConnect:
    def __init__(self, uri: str) -> None:
        self._uri = uri
        self._svc = DomainService(Context.open(uri))

    def getURI(self) -> str:
        return self._uri

    def _wrap(self, name: str, uuid: str | None) -> virDomain:
        return virDomain(self, name, uuid or "")

    @_translated
    def defineXML(self, xml: str) -> virDomain:
        domain = self._svc.define_xml(xml)
        return self._wrap(domain.name, domain.uuid)

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
    def listAllDomains(self, flags: int = 0) -> list[virDomain]:
        want_active = not flags or bool(flags & VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        want_inactive = not flags or bool(flags & VIR_CONNECT_LIST_DOMAINS_INACTIVE)
        return [self._wrap(v.name, v.uuid) for v in self._svc.list_domains(True)
                if (v.info.state.active and want_active)
                or (not v.info.state.active and want_inactive)]

    def close(self) -> int:
        return 0


@_translated
def open(uri: str | None = None) -> virConnect:
    """Open a connection (``None`` → $PYVIRT_DEFAULT_URI, else qemu:///system)."""
    return virConnect(choose_uri(uri))
