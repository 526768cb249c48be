"""Fuzzing budgets and a shared state root.

``make test`` runs a few hundred cases; ``make fuzz`` sets ``PYVIRT_FUZZ_PROFILE=fuzz``
(at least 10 000 in-process cases). ``PYVIRT_FUZZ_SCALE=N`` multiplies either budget.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from pyvirt.qemu.command import DEFAULT_BINARY
from pyvirt.service.context import Context
from pyvirt.service.domains import DomainService

PROFILE = os.environ.get("PYVIRT_FUZZ_PROFILE", "ci")
_BUDGETS = {
    # in-process service pipeline, in-process CLI, CLI in a real subprocess
    "ci": {"pipeline": 250, "cli": 60, "subprocess": 6},
    "fuzz": {"pipeline": 10_000, "cli": 2_000, "subprocess": 150},
}
if PROFILE not in _BUDGETS:
    raise pytest.UsageError(f"PYVIRT_FUZZ_PROFILE must be one of {sorted(_BUDGETS)}")
_SCALE = float(os.environ.get("PYVIRT_FUZZ_SCALE", "1"))


def budget(kind: str) -> int:
    return max(1, round(_BUDGETS[PROFILE][kind] * _SCALE))


def fuzz_settings(kind: str) -> settings:
    """Hypothesis settings for one fuzz test: its budget, no deadline (a cold QEMU
    capability probe or fsync can take a while), every example kept small enough."""
    return settings(max_examples=budget(kind), deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.large_base_example])


@dataclass
class FuzzRoot:
    """One embed root reused by every example (the capability cache stays warm)."""

    root: Path
    ctx: Context
    svc: DomainService
    work: Path

    @property
    def uri(self) -> str:
        return f"qemu:///embed?root={self.root}"

    def clear_store(self) -> None:
        """Forget what an example that failed half-way left behind."""
        for name in self.config_snapshot():
            (self.ctx.root.config_dir / name).unlink()

    def config_snapshot(self) -> dict[str, bytes]:
        """Every file in the definitions directory (temp files included), by name."""
        config = self.ctx.root.config_dir
        if not config.is_dir():
            return {}
        return {p.name: p.read_bytes() for p in config.iterdir()}


@pytest.fixture(scope="session")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzRoot]:
    base = tmp_path_factory.mktemp("fuzz")
    ctx = Context.open(f"qemu:///embed?root={base / 'root'}")
    for binary in (DEFAULT_BINARY, "/usr/bin/qemu-system-i386"):
        if Path(binary).exists():
            ctx.caps_for(binary)  # probe once, outside any timed example
    work = base / "work"
    work.mkdir()
    yield FuzzRoot(base / "root", ctx, DomainService(ctx), work)
