"""Typed results of QMP queries, and their parsers.

Together with :mod:`pyvirt.qmp.monitor`, this is the only module that sees raw QMP
replies. Every parser takes the untyped JSON value QEMU returned and either builds a
frozen model or raises :class:`~pyvirt.errors.MonitorError`: a reply of the wrong shape
means the binary is not the QEMU we think it is, and must not surface as a ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from pyvirt.errors import MonitorError

if TYPE_CHECKING:  # what ``query-machines`` answers is part of a binary's capabilities
    from pyvirt.qemu.caps import MachineInfo

_T = TypeVar("_T")


@dataclass(frozen=True, order=True)
class QemuVersion:
    """QEMU's version triple (``query-version`` -> ``qemu``)."""

    major: int
    minor: int
    micro: int

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.micro)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.micro}"


@dataclass(frozen=True)
class KvmInfo:
    """``query-kvm``: ``present`` = KVM support compiled in, ``enabled`` = accelerator in use."""

    present: bool
    enabled: bool


# --- shape checks --------------------------------------------------------------------


def _as_object(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise MonitorError(f"unexpected QMP reply for {what}: expected an object")
    return value


def _as_list(value: object, what: str) -> Sequence[object]:
    if not isinstance(value, list):
        raise MonitorError(f"unexpected QMP reply for {what}: expected an array")
    return value


def _member(obj: Mapping[str, object], key: str, kind: type[_T], what: str) -> _T:
    value = obj.get(key)
    # bool is a subclass of int; a version number must not silently accept true/false
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MonitorError(
            f"unexpected QMP reply for {what}: member '{key}' is missing or not {kind.__name__}"
        )
    return value


def _bool(obj: Mapping[str, object], key: str, what: str, default: bool | None = None) -> bool:
    if default is not None and key not in obj:
        return default  # optional members are simply absent in QMP, never null
    return _member(obj, key, bool, what)


# --- parsers -------------------------------------------------------------------------


def parse_version(reply: object) -> QemuVersion:
    """Parse a ``query-version`` reply. :raises MonitorError: on an unexpected shape."""
    what = "query-version"
    qemu = _as_object(_as_object(reply, what).get("qemu"), what)
    return QemuVersion(_member(qemu, "major", int, what), _member(qemu, "minor", int, what),
                       _member(qemu, "micro", int, what))


def parse_machines(reply: object) -> tuple[MachineInfo, ...]:
    """Parse a ``query-machines`` reply, sorted by name (QEMU's order is hash order).

    :raises MonitorError: on an unexpected shape.
    """
    from pyvirt.qemu.caps import MachineInfo  # only a probe asks: not on a quick path

    what = "query-machines"
    machines = []
    for item in _as_list(reply, what):
        entry = _as_object(item, what)
        alias = _member(entry, "alias", str, what) if "alias" in entry else None
        machines.append(MachineInfo(_member(entry, "name", str, what), alias,
                                    _bool(entry, "is-default", what, default=False)))
    return tuple(sorted(machines, key=lambda m: m.name))


def parse_kvm(reply: object) -> KvmInfo:
    """Parse a ``query-kvm`` reply. :raises MonitorError: on an unexpected shape."""
    what = "query-kvm"
    obj = _as_object(reply, what)
    return KvmInfo(present=_bool(obj, "present", what), enabled=_bool(obj, "enabled", what))


def parse_property_names(reply: object) -> tuple[str, ...]:
    """Parse a ``device-list-properties`` reply into sorted property names.

    :raises MonitorError: on an unexpected shape.
    """
    what = "device-list-properties"
    names = {_member(_as_object(item, what), "name", str, what) for item in _as_list(reply, what)}
    return tuple(sorted(names))


@dataclass(frozen=True)
class RunStatus:
    """``query-status``: QEMU's run state (``running``, ``paused``, ``shutdown`` ...)."""

    status: str
    running: bool


def parse_status(reply: object) -> RunStatus:
    """:raises MonitorError: on an unexpected shape."""
    what = "query-status"
    obj = _as_object(reply, what)
    return RunStatus(_member(obj, "status", str, what), _bool(obj, "running", what))


def _pci_ids(devices: object, what: str, found: list[str]) -> None:
    for item in _as_list(devices, what):
        dev = _as_object(item, what)
        qdev_id = dev.get("qdev_id")
        if isinstance(qdev_id, str) and qdev_id:
            found.append(qdev_id)
        bridge = dev.get("pci_bridge")
        if isinstance(bridge, Mapping) and "devices" in bridge:
            _pci_ids(bridge["devices"], what, found)


def parse_pci_device_ids(reply: object) -> tuple[str, ...]:
    """Every ``qdev_id`` on the guest's PCI buses, behind bridges and root ports too.

    :raises MonitorError: on an unexpected shape.
    """
    what = "query-pci"
    found: list[str] = []
    for item in _as_list(reply, what):
        _pci_ids(_as_object(item, what).get("devices", []), what, found)
    return tuple(found)


def parse_virtio_guest_features(reply: object) -> tuple[str, ...]:
    """Feature names the guest driver accepted (``x-query-virtio-status``), e.g.
    ``VIRTIO_NET_F_STANDBY``. :raises MonitorError: on an unexpected shape."""
    what = "x-query-virtio-status"
    features = _as_object(_as_object(reply, what).get("guest-features"), what)
    names = _as_list(features.get("dev-features", []), what)
    return tuple(str(n).split(":", 1)[0].strip() for n in names)


@dataclass(frozen=True)
class MigrationInfo:
    """``query-migrate``: status and statistics (times in ms, sizes in bytes)."""

    status: str
    total_time: int | None = None
    downtime: int | None = None
    expected_downtime: int | None = None
    setup_time: int | None = None
    ram_transferred: int | None = None
    ram_remaining: int | None = None
    ram_total: int | None = None
    mbps: float | None = None
    dirty_sync_count: int | None = None
    error: str | None = None

    @property
    def ram_percent(self) -> float | None:
        if not self.ram_total or self.ram_remaining is None:
            return None
        return 100.0 * (self.ram_total - self.ram_remaining) / self.ram_total


def _opt_int(obj: Mapping[str, object], key: str) -> int | None:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_migrate_info(reply: object) -> MigrationInfo:
    """:raises MonitorError: on an unexpected shape."""
    what = "query-migrate"
    obj = _as_object(reply, what)
    ram_raw = obj.get("ram")
    ram = ram_raw if isinstance(ram_raw, Mapping) else {}
    mbps = ram.get("mbps")
    error = obj.get("error-desc")
    return MigrationInfo(
        status=str(obj.get("status", "none")),
        total_time=_opt_int(obj, "total-time"), downtime=_opt_int(obj, "downtime"),
        expected_downtime=_opt_int(obj, "expected-downtime"),
        setup_time=_opt_int(obj, "setup-time"),
        ram_transferred=_opt_int(ram, "transferred"), ram_remaining=_opt_int(ram, "remaining"),
        ram_total=_opt_int(ram, "total"),
        mbps=float(mbps) if isinstance(mbps, int | float) else None,
        dirty_sync_count=_opt_int(ram, "dirty-sync-count"),
        error=error if isinstance(error, str) else None)
