"""The destination agent after losing its source: an incoming migration that has begun
is waited for (B12), one that never began is given up soon, not after two minutes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pyvirt.migration import destination
from pyvirt.migration.destination import DestinationAgent
from pyvirt.service.context import Context
from pyvirt.service.domains import DomainService


class Incoming:
    """query-migrate answers in turn (the last one repeats); no events ever arrive."""

    def __init__(self, *statuses: str) -> None:
        self.statuses = list(statuses)
        self.asked = 0

    async def query_migrate(self) -> SimpleNamespace:
        self.asked += 1
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return SimpleNamespace(status=status)

    async def next(self, timeout: float | None = None) -> Any:
        await asyncio.sleep(min(timeout or 0.05, 0.05))
        raise TimeoutError


def agent(tmp_path: Path, incoming: Incoming) -> DestinationAgent:
    ag = DestinationAgent(DomainService(Context.open(f"qemu:///embed?root={tmp_path / 'root'}")))
    ag.monitor = incoming  # type: ignore[assignment]
    ag.stream = incoming  # type: ignore[assignment]
    ag.domain = SimpleNamespace(name="g")  # type: ignore[assignment]
    return ag


def wait(ag: DestinationAgent, **kwargs: float) -> str:
    # the outer bound only keeps a regression from hanging the suite
    return asyncio.run(asyncio.wait_for(ag._wait_incoming(**kwargs), 30))  # type: ignore[arg-type]


def test_a_migration_that_never_began_is_given_up(tmp_path: Path) -> None:
    incoming = Incoming("none")
    assert wait(agent(tmp_path, incoming), timeout=120, begin_within=0.2) == "none"
    assert incoming.asked >= 2


def test_a_migration_that_began_is_followed_to_its_end(tmp_path: Path) -> None:
    incoming = Incoming("none", "active", *["active"] * 10, "completed")
    ag = agent(tmp_path, incoming)
    assert wait(ag, timeout=120, begin_within=0.01) == "completed"
    assert ag.completed


def test_the_lost_channel_uses_the_short_grace_only_before_the_stream(tmp_path: Path,
                                                                       monkeypatch: Any
                                                                       ) -> None:
    seen: dict[str, float | None] = {}

    async def fake_wait(timeout: float, begin_within: float | None = None) -> str:
        seen.update(timeout=timeout, begin_within=begin_within)
        return "none"

    ag = agent(tmp_path, Incoming("none"))
    aborted: list[bool] = []

    async def fake_abort() -> dict[str, Any]:
        aborted.append(True)
        return {}

    monkeypatch.setattr(ag, "_wait_incoming", fake_wait)
    monkeypatch.setattr(ag, "abort", fake_abort)
    asyncio.run(ag.on_channel_lost())
    assert seen == {"timeout": destination.LOST_CHANNEL_GRACE,
                    "begin_within": destination.UNSTARTED_GRACE}
    assert aborted == [True]
