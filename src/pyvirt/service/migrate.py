"""Use cases around migration: migrate, job info, job abort, and the destination agent."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable

from pyvirt.errors import InternalError, OperationInvalidError
from pyvirt.migration.job import JobFiles, JobStats
from pyvirt.migration.source import MigrateOptions, MigrationResult, SourceMigration
from pyvirt.service.context import Context
from pyvirt.service.domains import DomainService
from pyvirt.store.roots import parse_uri


def migrate(ctx: Context, ref: str, dest_uri: str, opts: MigrateOptions,
            show: Callable[[JobStats], None] | None = None,
            agent: subprocess.Popen[bytes] | None = None) -> MigrationResult:
    """Live-migrate domain *ref* to *dest_uri* (through *agent* when the caller has
    started the destination's agent already; the caller reaps it if it is unused).

    :raises PyvirtError: from the gate, the destination, or the migration itself.
    """
    dest = parse_uri(dest_uri)
    if not dest.is_remote and dest.root == ctx.uri.root:
        raise InternalError("Attempt to migrate guest to the same host")
    svc = DomainService(ctx)
    name = svc.lookup(ref).name
    with svc.runtime.lock(name, "migration out"):
        return asyncio.run(SourceMigration(svc, name, dest, opts, show, agent).run())


def job_info(ctx: Context, ref: str, completed: bool) -> JobStats | None:
    svc = DomainService(ctx)
    files = JobFiles(svc.runtime.run_dir(svc.lookup(ref).name).path)
    return files.read_completed() if completed else files.read_active()


def abort_job(ctx: Context, ref: str, timeout: float = 60.0) -> JobStats | None:
    """Ask the migrating process to cancel; wait until it has verified the rollback.

    :raises OperationInvalidError: when no job runs.
    """
    svc = DomainService(ctx)
    files = JobFiles(svc.runtime.run_dir(svc.lookup(ref).name).path)
    files.request_abort()
    deadline = time.monotonic() + timeout
    while files.read_active() is not None:
        if time.monotonic() > deadline:
            raise OperationInvalidError("the migration job did not stop in time")
        time.sleep(0.1)
    return files.read_completed()


def run_agent(ctx: Context) -> int:
    from pyvirt.migration.destination import serve

    return asyncio.run(serve(DomainService(ctx)))
