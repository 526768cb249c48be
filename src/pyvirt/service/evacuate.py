"""Host maintenance: move every running guest off this host (``pyvirt evacuate``).

First a plan, made before anything moves: each destination's pyvirt (the migration agent,
locally or over ssh) is asked, guest by guest, whether it could take the guest now —
the definition validates there, the name is free, there is memory, and a teamed guest's
pool has a VF — with what earlier guests of the plan were promised counted against it.
The largest guests are placed first (then by name, so a dry run shows what a real run
does), each on the destination holding the fewest planned guests that accepts it. Then
the migrations run, at most ``parallel`` at once, each as its own ``pyvirt migrate`` (so
each has migrate's own guarantees: a failed one leaves its guest running here). A
persistent guest's definition moves with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pyvirt.domain.io import domain_to_xml
from pyvirt.errors import InternalError, PyvirtError
from pyvirt.migration.transport import Agent, start_agent
from pyvirt.service.context import Context
from pyvirt.service.domains import DomainService
from pyvirt.store.roots import parse_uri


@dataclass(frozen=True)
class Move:
    """One running guest: where it goes (None: nowhere), or why it cannot move."""

    name: str
    memory_kib: int
    persistent: bool
    dest: str | None = None
    reason: str | None = None


@dataclass
class _Destination:
    uri: str
    agent: Agent | None = None
    broken: str | None = None  # why this destination answers nothing
    reserved_kib: int = 0
    taken: list[str] = field(default_factory=list)
    guests: int = 0


def plan_evacuation(ctx: Context, dests: list[str]) -> list[Move]:
    """Where each running guest of *ctx* would go (nothing moves).

    :raises PyvirtError: for a destination URI that cannot be parsed, or names this host.
    """
    for uri in dests:
        parsed = parse_uri(uri)
        if not parsed.is_remote and parsed.root == ctx.uri.root:
            raise InternalError(f"Attempt to migrate guest to the same host ({uri})")
    svc = DomainService(ctx)
    guests = []
    for name in svc.running_names():
        base = svc.runtime.started_definition(name) or svc.find_defined(name)
        if base is None:
            continue
        guests.append((name, domain_to_xml(base), base.current_memory or base.memory,
                       svc.find_defined(name) is not None))
    guests.sort(key=lambda g: (-g[2], g[0]))  # largest first; by name: a dry run's plan
                                              # is the one a real run then makes
    return asyncio.run(_place(guests, [_Destination(d) for d in dests]))


async def _place(guests: list[tuple[str, str, int, bool]],
                 dests: list[_Destination]) -> list[Move]:
    await asyncio.gather(*(_greet(d) for d in dests))
    moves = []
    try:
        for name, xml, memory, persistent in guests:
            moves.append(await _place_one(name, xml, memory, persistent, dests))
    finally:
        for d in dests:
            if d.agent is not None:
                with contextlib.suppress(PyvirtError, OSError):
                    await d.agent.channel.request("bye", timeout=10)
                await d.agent.close()
    return moves


async def _greet(d: _Destination) -> None:
    try:
        d.agent = await start_agent(parse_uri(d.uri))
        await d.agent.channel.request("hello", timeout=60)
    except PyvirtError as err:
        d.broken = str(err)


async def _place_one(name: str, xml: str, memory: int, persistent: bool,
                     dests: list[_Destination]) -> Move:
    reasons = []
    for d in sorted(dests, key=lambda d: d.guests):  # stable: ties keep the given order
        if d.agent is None:
            reasons.append(f"{d.uri}: {d.broken}")
            continue
        try:
            room = await d.agent.channel.request("check", timeout=120, xml=xml,
                                                 reserved_kib=d.reserved_kib, taken=d.taken)
        except PyvirtError as err:
            reasons.append(f"{d.uri}: {err}")
            continue
        d.reserved_kib += int(room["memory_kib"])
        d.taken += [str(v) for v in room["vfs"]]
        d.guests += 1
        return Move(name, memory, persistent, dest=d.uri)
    return Move(name, memory, persistent, reason="; ".join(reasons) or "no destination")


@dataclass(frozen=True)
class Outcome:
    move: Move
    moved: bool
    detail: str  # the last line migrate printed: its error, or its summary


def run_evacuation(ctx: Context, moves: list[Move], parallel: int,
                   report: Callable[[str], None]) -> list[Outcome]:
    """Migrate every placed guest, at most *parallel* at once; *report* hears each start
    and end. A guest whose migration fails stays running here (migrate's guarantee)."""
    placed = [m for m in moves if m.dest is not None]

    def one(move: Move) -> Outcome:
        assert move.dest is not None
        report(f"{move.name}: migrating to {move.dest}")
        flags = ["--persistent", "--undefinesource"] if move.persistent else []
        proc = subprocess.run(
            [sys.executable, "-m", "pyvirt.cli", "-c", ctx.uri.text, "migrate", "--live",
             *flags, move.name, move.dest], capture_output=True, text=True, timeout=3600)
        lines = (proc.stderr if proc.returncode else proc.stdout).strip().splitlines()
        detail = lines[-1] if lines else ""
        report(f"{move.name}: {'moved' if proc.returncode == 0 else 'stayed'} {detail}")
        return Outcome(move, proc.returncode == 0, detail)

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(one, placed))
