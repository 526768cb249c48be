"""Typed QMP events. Raw event dicts never leave :mod:`pyvirt.qmp`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """One QMP event: its name, QEMU's timestamp (s) and the few data members we use."""

    name: str
    timestamp: float
    status: str | None = None  # MIGRATION
    device_id: str | None = None  # UNPLUG_PRIMARY, FAILOVER_NEGOTIATED
    device: str | None = None  # DEVICE_DELETED (qdev id)
    pass_: int | None = None  # MIGRATION_PASS


def _str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def parse_event(raw: Mapping[str, object]) -> Event:
    """Build an :class:`Event` from qemu.qmp's message (missing members become None)."""
    data = raw.get("data")
    data = data if isinstance(data, Mapping) else {}
    stamp = raw.get("timestamp")
    seconds = 0.0
    if isinstance(stamp, Mapping):
        sec, usec = stamp.get("seconds"), stamp.get("microseconds")
        if isinstance(sec, int) and isinstance(usec, int):
            seconds = sec + usec / 1e6
    pass_ = data.get("pass")
    return Event(name=str(raw.get("event", "")), timestamp=seconds,
                 status=_str(data, "status"), device_id=_str(data, "device-id"),
                 device=_str(data, "device"),
                 pass_=pass_ if isinstance(pass_, int) else None)
