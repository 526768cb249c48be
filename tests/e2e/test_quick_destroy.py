"""``destroy`` from the run-dir records, on the real QEMU and the real ``pyvirt`` command.

The guests are small (no kernel, no disk: QEMU idles in the firmware). Which way a
destroy went is told without timing: the quick path never imports the XML model
(``python -X importtime``); the full path parses the definition, so it does. The full
path is forced, where a comparison needs it, by a wrapper that makes ``quick_destroy``
decline; the lock timeout (30 s, hard-coded) is shortened the same way where a test only
needs its message.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyvirt.runtime.process import ProcessId, identify
from tests.e2e.conftest import PYVIRT, Host, needs_qemu
from tests.e2e.test_quick_start import define, run_dir, split_importtime, state

pytestmark = [pytest.mark.e2e, needs_qemu]

MODEL = "pyvirt.domain.model"
NOT_RUNNING = "error: Requested operation is not valid: domain is not running\n"

# Preludes for the wrapper around the CLI's main (see :func:`pyvirt`).
FULL_PATH = """
import pyvirt.runtime.quickstop as quickstop
quickstop.quick_destroy = lambda *args: False  # the CLI imports it at call time
"""
SHORT_LOCK = """
import pyvirt.store.locks as locks

class ShortLock(locks.DomainLock):
    def __init__(self, lock_dir, name, job, timeout=30.0):
        super().__init__(lock_dir, name, job, min(timeout, 0.5))

locks.DomainLock = ShortLock  # before anything imports it
"""


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str  # without the import-time lines
    imports: list[str]  # pyvirt's modules, in the order their import completed

    @property
    def quick(self) -> bool:
        return MODEL not in self.imports


def pyvirt(host: Host, *args: str, prelude: str = "", timeout: float = 120) -> Run:
    """``pyvirt -c URI ARGS`` under ``python -X importtime``; with *prelude*, the same
    CLI main after that code."""
    if prelude:
        script = textwrap.dedent(prelude) + "\nfrom pyvirt.cli.main import main\nmain()\n"
        argv = [sys.executable, "-X", "importtime", "-c", script, "-c", host.uri, *args]
    else:
        argv = [sys.executable, "-X", "importtime", "-m", "pyvirt.cli", "-c", host.uri,
                *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return parse_run(proc.returncode, proc.stdout, proc.stderr)


def parse_run(returncode: int, stdout: str, stderr: str) -> Run:
    imports, text = split_importtime(stderr)
    assert "Traceback" not in text, text
    return Run(returncode, stdout, text, imports)


def qemu_of(host: Host, name: str = "q") -> ProcessId:
    """The QEMU of *name*, by its status record (and the only QEMU of this root)."""
    status = json.loads((run_dir(host, name) / "status.json").read_text())
    assert host.qemu_pids() == [status["pid"]]
    ident = identify(status["pid"])
    assert ident is not None and ident.start_time == status["start_time"] and ident.alive()
    return ident


def leftovers(host: Host, name: str = "q") -> dict[str, str | None]:
    """The run directory after a stop: entry -> content (None: not a regular file)."""
    rd = run_dir(host, name)
    return {str(p.relative_to(rd)): p.read_text() if p.is_file() else None
            for p in sorted(rd.rglob("*"))}


def assert_destroyed(host: Host, qemu: ProcessId, name: str = "q") -> None:
    assert not qemu.alive(), f"QEMU {qemu.pid} survived the destroy"
    assert host.qemu_pids() == []
    assert state(host, name) == "shut off (destroyed)"
    rd = run_dir(host, name)
    for gone in ("status.json", "live.xml", "definition.xml", "qemu"):
        assert not (rd / gone).exists(), gone
    assert json.loads((rd / "last-state.json").read_text()) == \
        {"state": "SHUTOFF", "reason": "destroyed"}


def destroyed_quickly(host: Host, name: str = "q") -> Run:
    done = pyvirt(host, "destroy", name)
    assert (done.returncode, done.stdout, done.stderr) == \
        (0, f"Domain '{name}' destroyed\n", ""), done
    assert done.quick, "the destroy built the model (full path)"
    return done


# --- the quick path ---------------------------------------------------------------------


def test_a_running_guest_is_destroyed_quickly(host: Host, tmp_path: Path) -> None:
    define(host, tmp_path)
    host.run("start", "q")
    assert state(host) == "running (booted)"
    qemu = qemu_of(host)
    destroyed_quickly(host)
    assert_destroyed(host, qemu)
    quick_left = leftovers(host)

    # the full path, from the same state, leaves the same and says the same
    host.run("start", "q")
    qemu = qemu_of(host)
    full = pyvirt(host, "destroy", "q", prelude=FULL_PATH)
    assert (full.returncode, full.stdout, full.stderr) == (0, "Domain 'q' destroyed\n", "")
    assert not full.quick
    assert_destroyed(host, qemu)
    assert leftovers(host) == quick_left

    host.run("start", "q")  # and it starts again
    assert state(host) == "running (booted)"
    destroyed_quickly(host)


def test_a_suspended_guest_is_destroyed_quickly(host: Host, tmp_path: Path) -> None:
    define(host, tmp_path)
    host.run("start", "q")
    host.run("suspend", "q")
    assert state(host) == "paused (user)"
    qemu = qemu_of(host)
    destroyed_quickly(host)
    assert_destroyed(host, qemu)


def test_a_guest_started_paused_is_destroyed_quickly(host: Host, tmp_path: Path) -> None:
    """``start --paused`` leaves QEMU in ``prelaunch`` (-S, never continued)."""
    define(host, tmp_path)
    host.run("start", "--paused", "q")
    assert state(host) == "paused (user)"
    qemu = qemu_of(host)
    try:
        destroyed_quickly(host)
    finally:
        host.run("destroy", "q", check=False)
    assert_destroyed(host, qemu)


def test_a_resumed_guest_is_destroyed_quickly(host: Host, tmp_path: Path) -> None:
    define(host, tmp_path)
    host.run("start", "--paused", "q")
    host.run("resume", "q")
    assert state(host) == "running (unpaused)"
    qemu = qemu_of(host)
    destroyed_quickly(host)
    assert_destroyed(host, qemu)


# --- what the quick path leaves to the full one -------------------------------------------


def test_a_guest_that_is_not_running(host: Host, tmp_path: Path) -> None:
    define(host, tmp_path)
    for prelude in ("", FULL_PATH):  # never started: both ways say the same
        done = pyvirt(host, "destroy", "q", prelude=prelude)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", NOT_RUNNING)
    assert state(host) == "shut off (unknown)"
    host.run("start", "q")
    destroyed_quickly(host)
    again = pyvirt(host, "destroy", "q")  # destroyed already
    assert (again.returncode, again.stdout, again.stderr) == (1, "", NOT_RUNNING)
    assert state(host) == "shut off (destroyed)"


def test_an_unknown_domain(host: Host) -> None:
    for prelude in ("", FULL_PATH):
        done = pyvirt(host, "destroy", "nope", prelude=prelude)
        assert (done.returncode, done.stdout, done.stderr) == \
            (1, "", "error: Domain not found: no domain with matching name 'nope'\n")


def test_a_killed_qemu_is_reconciled_as_before(host: Host, tmp_path: Path) -> None:
    define(host, tmp_path)
    host.run("start", "q")
    qemu = qemu_of(host)
    os.kill(qemu.pid, signal.SIGKILL)
    done = pyvirt(host, "destroy", "q")
    assert (done.returncode, done.stdout, done.stderr) == (1, "", NOT_RUNNING)
    assert not done.quick  # declined: the full path reconciled it
    assert state(host) == "shut off (crashed)"
    assert not (run_dir(host) / "status.json").exists()


def test_destroy_by_uuid_goes_the_full_way(host: Host, tmp_path: Path) -> None:
    define(host, tmp_path)
    host.run("start", "q")
    uuid = json.loads((run_dir(host) / "status.json").read_text())["uuid"]
    assert uuid
    qemu = qemu_of(host)
    done = pyvirt(host, "destroy", uuid)
    assert (done.returncode, done.stdout, done.stderr) == (0, "Domain 'q' destroyed\n", "")
    assert not done.quick
    assert_destroyed(host, qemu)


def test_a_busy_monitor_sends_destroy_the_full_way(host: Host, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """QEMU serves one QMP client at a time: while we hold its monitor, ``query-status``
    gets no answer, the quick path declines, and the full path goes by the record."""
    define(host, tmp_path)
    host.run("start", "q")
    qemu = qemu_of(host)
    monkeypatch.chdir(run_dir(host) / "qemu")  # a short socket address
    holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        holder.connect("monitor.sock")
        holder.settimeout(30)
        assert b"QMP" in holder.recv(4096)  # the greeting: the monitor is ours now
        done = pyvirt(host, "destroy", "q")
    finally:
        holder.close()
    assert (done.returncode, done.stdout, done.stderr) == (0, "Domain 'q' destroyed\n", "")
    assert not done.quick
    assert_destroyed(host, qemu)


# --- the domain lock ----------------------------------------------------------------------


HOLD_LOCK = """
import sys
from pathlib import Path
from pyvirt.store.locks import DomainLock

with DomainLock(Path(sys.argv[1]), sys.argv[2], "migrate"):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes it
"""


class LockHolder:
    """Another pyvirt process holding the domain lock (as a ``migrate`` would)."""

    def __init__(self, host: Host, name: str = "q") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(host.root / "run" / "qemu" / "locks"),
             name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "held\n"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(30)


@pytest.fixture
def lock_holders() -> Iterator[list[LockHolder]]:
    holders: list[LockHolder] = []
    yield holders
    for holder in holders:
        if holder.proc.poll() is None:
            holder.proc.kill()
            holder.proc.wait()


def test_destroy_waits_for_the_lock(host: Host, tmp_path: Path,
                                    lock_holders: list[LockHolder]) -> None:
    define(host, tmp_path)
    host.run("start", "q")
    qemu = qemu_of(host)
    holder = LockHolder(host)
    lock_holders.append(holder)
    destroy = subprocess.Popen([sys.executable, "-X", "importtime", *PYVIRT[1:], "-c",
                                host.uri, "destroy", "q"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # let it reach the lock; it cannot get further while it is held
        assert destroy.poll() is None and qemu.alive()
        assert (run_dir(host) / "status.json").exists()
    finally:
        holder.release()
    out, err = destroy.communicate(timeout=60)
    done = parse_run(destroy.returncode, out, err)
    assert (done.returncode, done.stdout, done.stderr) == (0, "Domain 'q' destroyed\n", "")
    assert done.quick  # it waited on the quick path, then did the destroy there
    assert_destroyed(host, qemu)


def test_a_held_lock_fails_destroy_like_the_full_path(
        host: Host, tmp_path: Path, lock_holders: list[LockHolder]) -> None:
    define(host, tmp_path)
    host.run("start", "q")
    qemu = qemu_of(host)
    holder = LockHolder(host)
    lock_holders.append(holder)
    expected = ("error: Timed out during operation: cannot acquire state change lock "
                f"(held by pid {holder.pid}: migrate)\n")
    quick = pyvirt(host, "destroy", "q", prelude=SHORT_LOCK)
    full = pyvirt(host, "destroy", "q", prelude=SHORT_LOCK + FULL_PATH)
    assert qemu.alive() and (run_dir(host) / "status.json").exists()
    holder.release()
    assert (quick.returncode, quick.stdout, quick.stderr) == (1, "", expected)
    assert quick.quick  # the quick path's timeout is the answer: no second wait
    assert (full.returncode, full.stdout, full.stderr) == (1, "", expected)
    assert state(host) == "running (booted)"
    destroyed_quickly(host)
    assert_destroyed(host, qemu)


def test_a_held_lock_fails_the_real_destroy_after_30_s(
        host: Host, tmp_path: Path, lock_holders: list[LockHolder]) -> None:
    """The unpatched command (this one waits the whole 30 s)."""
    define(host, tmp_path)
    host.run("start", "q")
    qemu = qemu_of(host)
    holder = LockHolder(host)
    lock_holders.append(holder)
    done = pyvirt(host, "destroy", "q")
    assert qemu.alive()
    holder.release()
    assert (done.returncode, done.stdout, done.stderr) == \
        (1, "", "error: Timed out during operation: cannot acquire state change lock "
                f"(held by pid {holder.pid}: migrate)\n")
    assert done.quick
    host.run("destroy", "q")
    assert_destroyed(host, qemu)
