"""Migration part of the Python API (libvirt-python's names), mixed into ``virDomain``."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pyvirt.api_constants import (
    VIR_DOMAIN_JOB_COMPLETED,
    VIR_DOMAIN_JOB_FAILED,
    VIR_DOMAIN_JOB_NONE,
    VIR_DOMAIN_JOB_STATS_COMPLETED,
    VIR_DOMAIN_JOB_UNBOUNDED,
    VIR_MIGRATE_PARAM_BANDWIDTH,
    VIR_MIGRATE_PARAM_DEST_XML,
    VIR_MIGRATE_PARAM_URI,
    VIR_MIGRATE_PERSIST_DEST,
    VIR_MIGRATE_UNDEFINE_SOURCE,
)
from pyvirt.api_errors import _translated
from pyvirt.migration.job import JobStats

if TYPE_CHECKING:
    from pyvirt.api_connect import virConnect
    from pyvirt.api_domain import virDomain
    from pyvirt.service.domains import DomainService


def _job_type(stats: JobStats | None, completed: bool) -> int:
    if stats is None:
        return VIR_DOMAIN_JOB_NONE
    if not completed:
        return VIR_DOMAIN_JOB_UNBOUNDED
    return VIR_DOMAIN_JOB_COMPLETED if stats.phase == "completed" else VIR_DOMAIN_JOB_FAILED


def job_stats_dict(stats: JobStats | None, completed: bool) -> dict[str, Any]:
    """libvirt's typed-parameter names where it has them, pyvirt's for the rest."""
    result: dict[str, Any] = {"type": _job_type(stats, completed)}
    if stats is None:
        return result
    raw = asdict(stats)
    names = {"elapsed_ms": "time_elapsed", "downtime_ms": "downtime", "setup_ms": "setup_time",
             "ram_transferred": "memory_processed", "ram_remaining": "memory_remaining",
             "ram_total": "memory_total", "wait_unplug_ms": "wait_unplug_time",
             "phase": "phase", "operation": "operation", "error": "error"}
    for key, name in names.items():
        if raw.get(key) is not None:
            result[name] = raw[key]
    if stats.total_ms is not None and completed:
        result["time_elapsed"] = stats.total_ms
    return result


class MigrationMethods:
    """``migrateToURI3``, ``migrate3``, ``jobStats``, ``jobInfo``, ``abortJob``, mixed
    into ``virDomain``. Migration is always live (VIR_MIGRATE_LIVE or not); the flags
    read are PERSIST_DEST and UNDEFINE_SOURCE, the parameters migrate_uri,
    destination_xml and bandwidth (MiB/s)."""

    _name: str
    _uuid: str

    @property
    def _svc(self) -> DomainService:  # provided by virDomain
        raise NotImplementedError

    @_translated
    def migrateToURI3(self, dconnuri: str, params: dict[str, Any] | None = None,
                      flags: int = 0) -> int:
        from pyvirt.migration.source import MigrateOptions
        from pyvirt.service.migrate import migrate

        params = params or {}
        bandwidth = params.get(VIR_MIGRATE_PARAM_BANDWIDTH)
        opts = MigrateOptions(
            persistent=bool(flags & VIR_MIGRATE_PERSIST_DEST),
            undefine_source=bool(flags & VIR_MIGRATE_UNDEFINE_SOURCE),
            xml=params.get(VIR_MIGRATE_PARAM_DEST_XML),
            bandwidth_mib=int(bandwidth) if bandwidth else None,
            migrate_uri=params.get(VIR_MIGRATE_PARAM_URI))
        migrate(self._svc.ctx, self._name, dconnuri, opts)
        return 0

    @_translated
    def migrate3(self, dconn: virConnect, params: dict[str, Any] | None = None,
                 flags: int = 0) -> virDomain:
        """Migrate to the host *dconn* is connected to (another state root of this
        machine: pyvirt's connections are local); the domain there."""
        self.migrateToURI3(dconn.getURI(), params, flags)
        return dconn.lookupByUUIDString(self._uuid)

    @_translated
    def jobStats(self, flags: int = 0) -> dict[str, Any]:
        from pyvirt.service.migrate import job_info

        completed = bool(flags & VIR_DOMAIN_JOB_STATS_COMPLETED)
        return job_stats_dict(job_info(self._svc.ctx, self._name, completed), completed)

    @_translated
    def jobInfo(self) -> list[int]:
        """[type, timeElapsed, timeRemaining, dataTotal, dataProcessed, dataRemaining,
        memTotal, memProcessed, memRemaining, fileTotal, fileProcessed, fileRemaining]"""
        stats = self.jobStats()
        mem = [stats.get("memory_total", 0), stats.get("memory_processed", 0),
               stats.get("memory_remaining", 0)]
        return [stats["type"], stats.get("time_elapsed", 0), 0, *mem, *mem, 0, 0, 0]

    @_translated
    def abortJob(self) -> int:
        from pyvirt.service.migrate import abort_job

        abort_job(self._svc.ctx, self._name)
        return 0
