"""SIGKILL pyvirt at random moments of define, start, destroy and migrate.

After every kill the roots are reconciled and audited (tests/hardening/util.py): every
stored config parses, no lock is held, every QEMU is recorded by the root it belongs
to, a guest runs in at most one root, and a guest that was running before a killed
migration runs in exactly one. ``PYVIRT_CRASH_ITERATIONS`` (default 50) and
``PYVIRT_CRASH_SEED`` reproduce or lengthen a run (``make fuzz`` runs 300).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyvirt.domain.io import domain_from_xml
from tests.e2e.conftest import PYVIRT, Host, needs_qemu
from tests.hardening.conftest import short_base
from tests.hardening.util import audit, small_domain_xml

pytestmark = [pytest.mark.e2e, needs_qemu]

ITERATIONS = int(os.environ.get("PYVIRT_CRASH_ITERATIONS", "50"))
SEED = int(os.environ.get("PYVIRT_CRASH_SEED", str(random.SystemRandom().randrange(2**32))))
NAME = "crashy"
# How long after launch the kill may land, per operation: a little past the usual end,
# so that some kills hit the last steps and some miss (the command had finished).
# (start and destroy usually take ~0.2 s since launch plans and quick destroy; define
# ~0.25 s; a migration ~1.3 s)
KILL_WINDOW = {"define": 0.35, "start": 0.3, "destroy": 0.25, "migrate": 1.6}
# Mostly define/start/destroy (fast); one in eight a live migration.
WEIGHTS = {"define": 5, "start": 6, "destroy": 5, "migrate": 2}


@pytest.fixture
def roots() -> Iterator[tuple[Host, Host]]:
    base = short_base()  # absolute monitor socket paths (under 108 bytes), the common case
    a, b = Host(base / "host-a"), Host(base / "host-b")
    yield a, b
    leftovers = a.qemu_pids() + b.qemu_pids()
    a.kill_all()
    b.kill_all()
    shutil.rmtree(base, ignore_errors=True)
    assert not leftovers, f"QEMU left running after the test: {leftovers}"


def where_running(a: Host, b: Host) -> list[Host]:
    running = audit([a, b]).running.get(NAME, [])
    return [h for h in (a, b) if h.root.name in running]


def ensure_running_somewhere(a: Host, b: Host) -> Host:
    hosts = where_running(a, b)
    if not hosts:
        a.run("start", NAME)
        return a
    return hosts[0]


def ensure_stopped(a: Host, b: Host) -> None:
    for host in where_running(a, b):
        host.run("destroy", NAME)


def kill_during(host: Host, args: list[str], window: float, rng: random.Random) -> int | None:
    """Run ``pyvirt ARGS`` and SIGKILL it after a random delay; its exit status if it
    finished first, else None."""
    proc = subprocess.Popen([*PYVIRT, "-c", host.uri, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.0, window))
    finished = proc.poll()
    if finished is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return finished


def stored_memory(host: Host) -> int:
    text = (host.root / "etc" / "qemu" / f"{NAME}.xml").read_bytes()
    return domain_from_xml(text).memory


def test_sigkill_at_random_moments_keeps_every_invariant(roots: tuple[Host, Host],
                                                         tmp_path: Path) -> None:
    a, b = roots
    rng = random.Random(SEED)
    variants = {}
    for mib in (64, 96):
        path = tmp_path / f"{mib}.xml"
        path.write_text(small_domain_xml(NAME, memory_mib=mib,
                                         uuid="5f1e2b9c-3d4a-4b6e-8f70-112233445566"))
        variants[mib * 1024] = path
    a.run("define", str(variants[64 * 1024]))
    ops = [op for op, weight in WEIGHTS.items() for _ in range(weight)]
    history: list[str] = []
    for iteration in range(ITERATIONS):
        op = rng.choice(ops)
        window = KILL_WINDOW[op]
        if op == "define":
            before = stored_memory(a)
            new = 96 * 1024 if before == 64 * 1024 else 64 * 1024
            status = kill_during(a, ["define", str(variants[new])], window, rng)
            stored = stored_memory(a)  # parses: neither torn nor missing
            assert stored in (before, new), stored
            assert status is None or stored == new, "define succeeded but stored the old XML"
        elif op == "start":
            ensure_stopped(a, b)
            status = kill_during(a, ["start", NAME], window, rng)
        elif op == "destroy":
            source = ensure_running_somewhere(a, b)
            status = kill_during(source, ["destroy", NAME], window, rng)
        else:
            source = ensure_running_somewhere(a, b)
            target = b if source is a else a
            status = kill_during(source, ["migrate", "--live", NAME, target.uri], window, rng)
        history.append(f"{iteration}:{op}:{'killed' if status is None else status}")
        state = audit([a, b])
        context = f"seed {SEED}, after {' '.join(history[-6:])}"
        assert not state.problems, f"{context}: {state.problems}"
        if op == "migrate":
            assert len(state.running.get(NAME, [])) == 1, \
                f"{context}: the migrating guest runs in {state.running.get(NAME, [])}"
        if op == "destroy" and status == 0:
            assert NAME not in state.running, f"{context}: destroyed guest still runs"
    assert sum(h.endswith("killed") for h in history) >= ITERATIONS // 3, history
    ensure_stopped(a, b)  # after all that, the plain lifecycle still works
    a.run("start", NAME)
    a.run("destroy", NAME)
    assert a.qemu_pids() == [] and b.qemu_pids() == []
