"""``virDomain``: one domain of a connection, with libvirt-python's method names."""

from __future__ import annotations

import uuid as uuidlib
from typing import TYPE_CHECKING, Any

from pyvirt.api_constants import (
    VIR_DOMAIN_AFFECT_LIVE,
    VIR_DOMAIN_REBOOT_ACPI_POWER_BTN,
    VIR_DOMAIN_START_PAUSED,
    VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
    VIR_DOMAIN_UNDEFINE_KEEP_NVRAM,
    VIR_DOMAIN_UNDEFINE_KEEP_TPM,
    VIR_DOMAIN_UNDEFINE_MANAGED_SAVE,
    VIR_DOMAIN_UNDEFINE_NVRAM,
    VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
    VIR_DOMAIN_UNDEFINE_TPM,
    VIR_DOMAIN_XML_INACTIVE,
    VIR_DOMAIN_XML_MIGRATABLE,
    VIR_DOMAIN_XML_SECURE,
    VIR_DOMAIN_XML_UPDATE_CPU,
)
from pyvirt.api_errors import _translated
from pyvirt.api_migration import MigrationMethods
from pyvirt.domain.io import domain_to_xml
from pyvirt.errors import InvalidArgError, OperationInvalidError, OperationUnsupportedError
from pyvirt.runtime.hostinfo import cpu_time_ns
from pyvirt.service import lifecycle
from pyvirt.service.devices import DeviceService, parse_devices

if TYPE_CHECKING:
    from pyvirt.api_connect import virConnect
    from pyvirt.service.domains import DomainService

#: undefine flags that ask for nothing pyvirt has (no managed save, snapshots,
#: checkpoints, NVRAM or TPM state): accepted, as libvirt accepts them for a domain
#: without any (Ansible's virt module passes them as its undefine ``flags``)
_UNDEFINE_FLAGS = (VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                   | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM
                   | VIR_DOMAIN_UNDEFINE_KEEP_NVRAM | VIR_DOMAIN_UNDEFINE_TPM
                   | VIR_DOMAIN_UNDEFINE_KEEP_TPM)
#: XMLDesc flags: only INACTIVE changes the answer (pyvirt's XML holds no secrets and
#: no host CPU expansion)
_XML_FLAGS = (VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_UPDATE_CPU
              | VIR_DOMAIN_XML_MIGRATABLE)


def _check_flags(flags: int, known: int, function: str) -> None:
    """libvirt's refusal of a flag it does not know (VIR_ERR_INVALID_ARG)."""
    if flags & ~known:
        raise InvalidArgError(f"unsupported flags (0x{flags & ~known:x}) in function "
                              f"{function}")


class virDomain(MigrationMethods):
    def __init__(self, conn: virConnect, name: str, uuid: str) -> None:
        self._conn = conn
        self._name = name
        self._uuid = uuid

    @property
    def _svc(self) -> DomainService:
        return self._conn._svc

    def connect(self) -> virConnect:
        return self._conn

    def name(self) -> str:
        return self._name

    def UUIDString(self) -> str:
        return self._uuid

    def UUID(self) -> bytes:
        """The 16 raw bytes, as libvirt-python."""
        return uuidlib.UUID(self._uuid).bytes

    @_translated
    def OSType(self) -> str:
        return self._svc.lookup(self._name).os.type

    def hasManagedSaveImage(self, flags: int = 0) -> int:
        """0: pyvirt keeps no managed save."""
        return 0

    def hasCurrentSnapshot(self, flags: int = 0) -> int:
        """0: pyvirt keeps no snapshots."""
        return 0

    @_translated
    def ID(self) -> int:
        """The domain id while it runs, -1 otherwise (as libvirt)."""
        view = self._svc.view(self._svc.lookup(self._name))
        return view.domid if view.info.state.active else -1

    # --- lifecycle ----------------------------------------------------------------------

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
    def destroyFlags(self, flags: int = 0) -> int:
        """GRACEFUL and DEFAULT alike: QEMU is stopped at once."""
        return self.destroy()

    @_translated
    def shutdown(self, timeout: float = 60.0) -> int:
        """pyvirt waits (up to *timeout* seconds) for the guest to power off; libvirt
        returns at once."""
        self._svc.shutdown(self._name, timeout)
        return 0

    @_translated
    def shutdownFlags(self, flags: int = 0) -> int:
        """By ACPI whatever *flags* ask (pyvirt has no guest-agent shutdown yet)."""
        return self.shutdown()

    @_translated
    def reboot(self, flags: int = 0) -> int:
        """By the ACPI power button (DEFAULT or ACPI_POWER_BTN): once the guest has
        powered off, QEMU resets it and it runs again. Unlike libvirt, returns only then
        (up to 60 s); a guest that ignores the button is an error."""
        _check_flags(flags, VIR_DOMAIN_REBOOT_ACPI_POWER_BTN, "virDomainReboot")
        self._svc.reboot(self._name, 60.0)
        return 0

    @_translated
    def reset(self, flags: int = 0) -> int:
        """QEMU's system_reset: the guest restarts at once."""
        _check_flags(flags, 0, "virDomainReset")
        self._svc.reset(self._name)
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
    def undefineFlags(self, flags: int = 0) -> int:
        _check_flags(flags, _UNDEFINE_FLAGS, "virDomainUndefineFlags")
        return self.undefine()

    @_translated
    def autostart(self) -> int:
        return int(self._svc.autostart(self._name))

    @_translated
    def setAutostart(self, autostart: int) -> int:
        self._svc.set_autostart(self._name, bool(autostart))
        return 0

    # --- what it is ---------------------------------------------------------------------

    @_translated
    def XMLDesc(self, flags: int = 0) -> str:
        _check_flags(flags, _XML_FLAGS, "virDomainGetXMLDesc")
        inactive = bool(flags & VIR_DOMAIN_XML_INACTIVE)
        return domain_to_xml(self._svc.live_or_inactive(self._name, inactive))

    @_translated
    def state(self, flags: int = 0) -> list[int]:
        """[state, reason]: libvirt's numbers (VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER)."""
        info = self._svc.state(self._name)
        return [info.state.number, info.reason_number]

    @_translated
    def info(self) -> list[int]:
        """[state, max memory KiB, memory KiB, vCPUs, CPU time ns]; the CPU time is the
        QEMU process's (user + system), 0 when it is not running."""
        d = self._svc.lookup(self._name)
        view = self._svc.view(d)
        running = view.info.state.active and view.pid is not None
        cpu = cpu_time_ns(view.pid) if running and view.pid is not None else 0
        return [view.info.state.number, d.memory, d.current_memory or d.memory,
                d.vcpu.current or d.vcpu.count, cpu]

    @_translated
    def isActive(self) -> int:
        return int(self._svc.state(self._name).state.active)

    @_translated
    def isPersistent(self) -> int:
        return int(self._svc.store.exists(self._svc.lookup(self._name).name))

    @_translated
    def maxMemory(self) -> int:
        """KiB."""
        return self._svc.lookup(self._name).memory

    @_translated
    def maxVcpus(self) -> int:
        """The vCPU maximum of the definition (libvirt asks a running guest's QEMU; the
        definition's count is what QEMU was started with)."""
        return self._svc.lookup(self._name).vcpu.count

    # --- asking the guest: not yet (issue 14); libvirtError, which clients catch -------

    def _not_yet(self, what: str) -> None:
        if not self._svc.state(self._name).state.active:
            raise OperationInvalidError("domain is not running")
        raise OperationUnsupportedError(f"{what} is not supported by pyvirt yet")

    @_translated
    def interfaceAddresses(self, source: int, flags: int = 0) -> dict[str, Any]:
        """Refused (VIR_ERR_OPERATION_UNSUPPORTED): no lease, ARP or agent source yet."""
        self._not_yet("asking for a guest's interface addresses")
        return {}

    @_translated
    def guestInfo(self, types: int = 0, flags: int = 0) -> dict[str, str]:
        """Refused (VIR_ERR_OPERATION_UNSUPPORTED): pyvirt has no guest-agent client yet."""
        self._not_yet("the guest agent")
        return {}

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
