"""20 pyvirt commands at once: serialised per domain, nothing corrupted, every loser told
why in one line."""

from __future__ import annotations

import random
import re
import subprocess
import time
from pathlib import Path

import pytest

from pyvirt.domain.io import domain_from_xml
from tests.e2e.conftest import PYVIRT, Host, needs_qemu
from tests.hardening.util import audit, small_domain_xml

pytestmark = [pytest.mark.e2e, needs_qemu]

# Every way a command may lose a race, as the user reads it.
CLEAR_LOSSES = [
    re.compile(r"^error: Requested operation is not valid: domain is already running$"),
    re.compile(r"^error: Requested operation is not valid: domain is not running$"),
    re.compile(r"^error: Requested operation is not valid: cannot undefine transient domain$"),
    re.compile(r"^error: Domain not found: no domain with matching name '[\w-]+'$"),
    re.compile(r"^error: Timed out during operation: cannot acquire state change lock "
               r"\(held by pid \d+: \w+\)$"),
]


def run_all(host: Host, commands: list[list[str]]) -> list[tuple[list[str], int, str, str]]:
    """Start every command at once, then collect (args, exit status, stdout, stderr)."""
    procs = [(args, subprocess.Popen([*PYVIRT, "-c", host.uri, *args], text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE))
             for args in commands]
    results = []
    for args, proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((args, proc.returncode, out, err))
    return results


def check_outcomes(results: list[tuple[list[str], int, str, str]]) -> None:
    for args, code, _out, err in results:
        assert "Traceback" not in err, (args, err)
        assert code in (0, 1), (args, code, err)
        if code == 1:
            assert err.count("\n") == 1, (args, err)
            assert any(p.match(err.strip()) for p in CLEAR_LOSSES), (args, err)


def qemu_log_starts(host: Host, name: str) -> int:
    log = host.root / "log" / "qemu" / f"{name}.log"
    return log.read_text().count(": starting up\n") if log.exists() else 0


def test_twenty_commands_on_one_domain(host: Host, tmp_path: Path) -> None:
    xml = tmp_path / "one.xml"
    xml.write_text(small_domain_xml("one", uuid="1b4e28ba-2fa1-11d2-883f-0016d3cca427"))
    host.run("define", str(xml))
    rng = random.Random(8)
    commands = [["start", "one"]] * 7 + [["destroy", "one"]] * 6 + \
        [["define", str(xml)]] * 4 + [["undefine", "one"]] * 3
    rng.shuffle(commands)
    started = time.monotonic()
    results = run_all(host, commands)
    elapsed = time.monotonic() - started
    check_outcomes(results)
    ok = [args[0] for args, code, _o, _e in results if code == 0]
    starts, destroys = ok.count("start"), ok.count("destroy")
    # Serialised: a start only succeeds on a stopped domain and a destroy on a running
    # one, so successes alternate and QEMU was launched exactly once per successful start.
    assert starts - destroys in (0, 1), ok
    assert qemu_log_starts(host, "one") == starts, ok
    state = audit([host])
    assert not state.problems, state.problems
    assert (state.running.get("one") is not None) == (starts - destroys == 1), (ok, state)
    assert len(host.qemu_pids()) == starts - destroys
    stored = host.root / "etc" / "qemu" / "one.xml"
    if stored.exists():
        assert domain_from_xml(stored.read_bytes()).uuid == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    leftovers = [p.name for p in (host.root / "etc" / "qemu").iterdir() if p.name != "one.xml"]
    assert leftovers == [], leftovers
    assert elapsed < 60, f"20 commands took {elapsed:.1f} s"
    if starts - destroys:
        host.run("destroy", "one")


def test_twenty_commands_on_twenty_domains(host: Host, tmp_path: Path) -> None:
    """Different domains never wait for or disturb each other: every command succeeds."""
    names = [f"d{i:02}" for i in range(20)]
    for name in names:
        (tmp_path / f"{name}.xml").write_text(small_domain_xml(name))
    for phase in (["define"], ["start"], ["destroy"], ["undefine"]):
        commands = [[*phase, str(tmp_path / f"{n}.xml") if phase == ["define"] else n]
                    for n in names]
        results = run_all(host, commands)
        check_outcomes(results)
        failed = [(args, err) for args, code, _o, err in results if code != 0]
        assert failed == [], failed
        if phase == ["start"]:
            pids = host.qemu_pids()
            assert len(pids) == 20, pids
            listing = host.run("list").stdout.splitlines()[2:]
            ids = [line.split()[0] for line in listing if line.strip()]
            assert len(ids) == 20 and len(set(ids)) == 20, listing  # unique domain ids
        state = audit([host])
        assert not state.problems, state.problems
    assert host.qemu_pids() == []
    assert list((host.root / "etc" / "qemu").iterdir()) == []


def test_mixed_commands_on_four_domains(host: Host, tmp_path: Path) -> None:
    """20 random commands over four domains: per-domain serialisation holds for each."""
    names = ["m0", "m1", "m2", "m3"]
    for name in names:
        (tmp_path / f"{name}.xml").write_text(small_domain_xml(name))
        host.run("define", str(tmp_path / f"{name}.xml"))
    rng = random.Random(20)
    commands = []
    for _ in range(20):
        name = rng.choice(names)
        verb = rng.choice(["start", "start", "destroy", "define", "undefine"])
        commands.append([verb, str(tmp_path / f"{name}.xml") if verb == "define" else name])
    results = run_all(host, commands)
    check_outcomes(results)
    state = audit([host])
    assert not state.problems, state.problems
    for name in names:
        ok = [args[0] for args, code, _o, _e in results
              if code == 0 and name in (args[1], str(tmp_path / f"{name}.xml"))]
        running = ok.count("start") - ok.count("destroy")
        assert running in (0, 1), (name, ok)
        assert (name in state.running) == (running == 1), (name, ok, state)
        assert qemu_log_starts(host, name) == ok.count("start"), (name, ok)
        if running:
            host.run("destroy", name)
