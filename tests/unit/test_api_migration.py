"""The API's job statistics use libvirt's typed-parameter names."""

from __future__ import annotations

from pyvirt.api_migration import (
    VIR_DOMAIN_JOB_COMPLETED,
    VIR_DOMAIN_JOB_FAILED,
    VIR_DOMAIN_JOB_NONE,
    VIR_DOMAIN_JOB_UNBOUNDED,
    job_stats_dict,
)
from pyvirt.migration.job import JobStats


def test_no_job() -> None:
    assert job_stats_dict(None, completed=False) == {"type": VIR_DOMAIN_JOB_NONE}


def test_completed_job_names() -> None:
    stats = JobStats("migration out", "completed", 1, elapsed_ms=900, setup_ms=252,
                     wait_unplug_ms=251, downtime_ms=12, total_ms=801, ram_total=100,
                     ram_remaining=0, ram_transferred=90)
    got = job_stats_dict(stats, completed=True)
    assert got["type"] == VIR_DOMAIN_JOB_COMPLETED
    assert (got["time_elapsed"], got["downtime"], got["setup_time"]) == (801, 12, 252)
    assert (got["memory_total"], got["memory_processed"], got["memory_remaining"]) == \
        (100, 90, 0)
    assert got["wait_unplug_time"] == 251


def test_running_and_failed_types() -> None:
    stats = JobStats("migration out", "wait-unplug", 1, elapsed_ms=300)
    assert job_stats_dict(stats, completed=False)["type"] == VIR_DOMAIN_JOB_UNBOUNDED
    failed = stats.evolve(phase="cancelled", error="x")
    assert job_stats_dict(failed, completed=True)["type"] == VIR_DOMAIN_JOB_FAILED
