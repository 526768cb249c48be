"""``destroy`` from the run-dir records (runtime/quickstop.py): a recorded, fully started
guest that QEMU reports ``running`` or ``paused``, on a host without device records, is
killed and recorded ``shut off (destroyed)`` without the XML model; anything else is
declined (nothing done, nothing changed) and the full ``destroy`` decides as before.

No QEMU: the launch-plan fakes (tests/unit/test_launch_plan.py): QEMU is a detached
``sleep`` and its monitor a stub answering ``query-status`` with ``calls.qemu_status``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import pyvirt.cli.domcmds  # registers the commands (main.py imports them lazily)
import pyvirt.qmp.monitor
from pyvirt.api import virConnect, virDomain
from pyvirt.cli.main import cli
from pyvirt.errors import OperationInvalidError, PyvirtError
from pyvirt.host.netstate import Claim, HostState
from pyvirt.runtime import domain as runtime_domain
from pyvirt.runtime import quickstop
from pyvirt.runtime.domain import Runtime
from pyvirt.runtime.quickstop import quick_destroy
from pyvirt.runtime.state import DomainState, Reason, StateInfo
from pyvirt.runtime.status import RunDir, RuntimeStatus
from pyvirt.service import lifecycle
from pyvirt.service.context import Context
from pyvirt.service.domains import DomainService
from pyvirt.store import locks
from pyvirt.store.locks import DomainLock, LockTimeoutError
from pyvirt.types import PciAddress
from tests.unit.test_launch_plan import Calls, Env, StubMonitor, fake_qemu, make_env, reap

NOT_RUNNING = "Requested operation is not valid: domain is not running"
REAL_MONITOR = pyvirt.qmp.monitor.Monitor  # before any fixture replaces it


# --- fixtures -----------------------------------------------------------------------------


class PausingStub(StubMonitor):
    """The launch-plan stub, which also pauses (``stop``) as QEMU does."""

    async def stop(self) -> None:
        self.calls.qemu_status = "paused"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    """As test_launch_plan's, with a stub that also pauses."""
    seen = fake_qemu(monkeypatch, PausingStub)
    yield seen
    reap(seen)


@pytest.fixture
def env(tmp_path: Path, calls: Calls) -> Env:
    return make_env(tmp_path, calls)


@pytest.fixture
def running(env: Env) -> Env:
    """Domain ``g`` defined and started (QEMU says ``running``)."""
    env.define("g")
    env.svc().start("g")
    assert env.calls.qemu_status == "running"
    assert state(env) == ("running", "booted")
    return env


@contextmanager
def full_path_forbidden(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Within: every entry of the full ``destroy`` fails the test (and is noted)."""
    reached: list[str] = []

    def forbidden(what: str) -> Callable[..., Any]:
        def fail(*args: Any, **kwargs: Any) -> Any:
            reached.append(what)
            raise AssertionError(f"the full path was used: {what}")
        return fail

    with monkeypatch.context() as m:
        m.setattr(DomainService, "lookup", forbidden("DomainService.lookup"))
        m.setattr(Runtime, "destroy", forbidden("Runtime.destroy"))
        m.setattr(Runtime, "observe", forbidden("Runtime.observe"))
        m.setattr(Runtime, "stopped", forbidden("Runtime.stopped"))
        m.setattr(Runtime, "live_domain", forbidden("Runtime.live_domain"))
        yield reached


# --- helpers ------------------------------------------------------------------------------


def state(env: Env, name: str = "g") -> tuple[str, str]:
    """``domstate --reason`` as a fresh command sees it (this reconciles)."""
    info = env.svc().state(name)
    return info.state.text, info.reason.value


def rundir(env: Env, name: str = "g") -> RunDir:
    return RunDir(env.root.domain_run_dir(name))


def qemu(env: Env) -> subprocess.Popen[bytes]:
    """The fake QEMU of the latest start."""
    return env.calls.procs[-1]


def alive(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is None


def tree(env: Env) -> dict[str, tuple[str, bytes | None, int | None]]:
    """Every entry under the state root: kind, content (files), mtime (files) — but the
    domain lock files, which any command taking the lock rewrites (``pid job``)."""
    base = env.base / "root"
    locks_dir = env.root.run_dir / "locks"
    found: dict[str, tuple[str, bytes | None, int | None]] = {}
    for path in sorted(base.rglob("*")):
        if path.parent == locks_dir:
            continue
        rel = str(path.relative_to(base))
        if path.is_symlink():
            found[rel] = ("link", os.readlink(path).encode(), None)
        elif path.is_dir():
            found[rel] = ("dir", None, None)
        elif path.is_socket():
            found[rel] = ("socket", None, path.lstat().st_mtime_ns)
        else:
            found[rel] = ("file", path.read_bytes(), path.lstat().st_mtime_ns)
    return found


def contents(env: Env) -> dict[str, tuple[str, bytes | None]]:
    """:func:`tree` without times and without the domain-id counter (each start counts):
    what two ways of doing one thing must both leave."""
    counter = str((env.root.run_dir / "next-domid").relative_to(env.base / "root"))
    return {rel: (kind, data) for rel, (kind, data, _mtime) in tree(env).items()
            if rel != counter}


def record_state(env: Env, info: StateInfo, name: str = "g") -> None:
    rd = rundir(env, name)
    status = rd.read_status()
    assert status is not None
    rd.write_status(status.with_state(info))


def destroy_cli(env: Env, name: str = "g") -> Result:
    return CliRunner().invoke(cli, ["-c", env.uri, "destroy", name])


def assert_destroyed(env: Env, proc: subprocess.Popen[bytes], name: str = "g") -> None:
    """What every successful destroy leaves: QEMU gone, the run records gone, the stop
    recorded."""
    assert proc.wait(10) is not None  # killed (and reaped by whoever killed it)
    rd = rundir(env, name)
    assert rd.read_last_state() == StateInfo(DomainState.SHUTOFF, Reason.DESTROYED)
    for gone in (rd.status_file, rd.live_xml, rd.definition, rd.qemu_dir):
        assert not gone.exists() and not gone.is_symlink(), gone
    assert state(env, name) == ("shut off", "destroyed")


# --- the quick path is taken, and leaves what the full path leaves ------------------------


def test_a_running_domain_is_destroyed_from_its_records(
        running: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = qemu(running)
    rd = rundir(running)
    assert rd.qemu_dir.is_dir() and rd.live_xml.is_file() and rd.definition.is_file()
    with full_path_forbidden(monkeypatch) as reached:
        assert quick_destroy(running.root, "g")
    assert reached == []
    assert_destroyed(running, proc)


def test_a_paused_domain_is_destroyed_from_its_records(
        running: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    running.svc().set_paused("g", True)
    assert running.calls.qemu_status == "paused"  # what QEMU says after ``stop``
    assert state(running) == ("paused", "user")
    proc = qemu(running)
    with full_path_forbidden(monkeypatch) as reached:
        assert quick_destroy(running.root, "g")
    assert reached == []
    assert_destroyed(running, proc)


def test_recorded_running_but_qemu_paused_is_destroyed_quickly(
        running: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Paused behind pyvirt's back (a raw QMP ``stop``): still a guest to kill."""
    running.calls.qemu_status = "paused"
    proc = qemu(running)
    with full_path_forbidden(monkeypatch):
        assert quick_destroy(running.root, "g")
    assert_destroyed(running, proc)


@pytest.mark.parametrize("paused", [False, True], ids=["running", "paused"])
def test_the_quick_path_leaves_what_the_full_path_leaves(
        running: Env, monkeypatch: pytest.MonkeyPatch, paused: bool) -> None:
    def pause() -> None:
        if paused:
            running.svc().set_paused("g", True)

    pause()
    quick_proc = qemu(running)
    with full_path_forbidden(monkeypatch):
        assert quick_destroy(running.root, "g")
    assert_destroyed(running, quick_proc)
    after_quick = contents(running)

    running.svc().start("g")
    pause()
    full_proc = qemu(running)
    assert full_proc is not quick_proc
    with monkeypatch.context() as m:  # the full path only
        m.setattr(quickstop, "quick_destroy", lambda *a: pytest.fail("quick path"))
        assert running.svc().destroy("g") == "g"
    assert_destroyed(running, full_proc)
    assert contents(running) == after_quick


def test_the_front_door_takes_the_quick_path_first(running: Env,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    proc = qemu(running)
    with full_path_forbidden(monkeypatch) as reached:
        assert lifecycle.destroy(Context.open(running.uri), "g") == "g"
    assert reached == []
    assert_destroyed(running, proc)


def test_the_api_takes_the_quick_path(running: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = qemu(running)
    conn = virConnect(running.uri)
    with full_path_forbidden(monkeypatch) as reached, monkeypatch.context() as m:
        m.setattr(DomainService, "destroy",
                  lambda *a, **k: pytest.fail("the service's destroy was used"))
        assert virDomain(conn, "g", "").destroy() == 0
    assert reached == []
    assert_destroyed(running, proc)


def test_the_api_destroys_on_the_full_path_when_the_records_decline(running: Env) -> None:
    running.calls.fail_connect = True  # a busy monitor: quick_destroy declines
    proc = qemu(running)
    declines(running)
    assert virDomain(virConnect(running.uri), "g", "").destroy() == 0
    assert_destroyed(running, proc)


def test_the_cli_takes_the_quick_path(running: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = qemu(running)
    with full_path_forbidden(monkeypatch) as reached, monkeypatch.context() as m:
        m.setattr(DomainService, "destroy",
                  lambda *a, **k: pytest.fail("the service's destroy was used"))
        result = destroy_cli(running)
    assert (result.exit_code, result.stdout, result.stderr) == \
        (0, "Domain 'g' destroyed\n", "")
    assert reached == []
    assert_destroyed(running, proc)


def test_the_cli_says_the_same_on_both_paths(running: Env,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    quick = destroy_cli(running)
    running.svc().start("g")
    monkeypatch.setattr(quickstop, "quick_destroy", lambda *a: False)
    full = destroy_cli(running)
    assert (quick.exit_code, quick.stdout, quick.stderr) == \
        (full.exit_code, full.stdout, full.stderr) == (0, "Domain 'g' destroyed\n", "")


def test_destroy_by_uuid_goes_the_full_way(running: Env) -> None:
    uuid = running.svc().lookup("g").uuid
    assert uuid
    assert not quick_destroy(running.root, uuid)
    proc = qemu(running)
    assert alive(proc)
    result = destroy_cli(running, uuid)
    assert (result.exit_code, result.stdout) == (0, "Domain 'g' destroyed\n")
    assert_destroyed(running, proc)


def test_a_domain_started_again_after_a_quick_destroy_runs(running: Env) -> None:
    assert quick_destroy(running.root, "g")
    running.svc().start("g")
    assert state(running) == ("running", "booted")
    assert alive(qemu(running))


def test_a_second_quick_destroy_declines(running: Env) -> None:
    assert quick_destroy(running.root, "g")
    before = tree(running)
    assert not quick_destroy(running.root, "g")
    assert tree(running) == before
    with pytest.raises(OperationInvalidError) as full:
        running.svc().destroy("g")
    assert str(full.value) == NOT_RUNNING
    assert state(running) == ("shut off", "destroyed")


# --- declines: nothing done, nothing changed; then the full path as before ---------------


def declines(env: Env, name: str = "g") -> None:
    """quick_destroy says False, the fake QEMU (if any) lives, no file changed."""
    procs = [p for p in env.calls.procs if alive(p)]
    before = tree(env)
    assert not quick_destroy(env.root, name)
    assert all(alive(p) for p in procs)
    assert tree(env) == before


def full_destroy_fails(env: Env, name: str = "g") -> str:
    with pytest.raises(PyvirtError) as failed:
        env.svc().destroy(name)
    return str(failed.value)


def test_declines_a_domain_that_never_ran(env: Env) -> None:
    env.define("g")
    declines(env)
    assert full_destroy_fails(env) == NOT_RUNNING
    assert state(env) == ("shut off", "unknown")
    result = destroy_cli(env)
    assert (result.exit_code, result.stdout, result.stderr) == \
        (1, "", f"error: {NOT_RUNNING}\n")


def test_declines_an_unknown_domain(env: Env) -> None:
    declines(env, "nope")
    assert full_destroy_fails(env, "nope") == \
        "Domain not found: no domain with matching name 'nope'"
    result = destroy_cli(env, "nope")
    assert (result.exit_code, result.stdout, result.stderr) == \
        (1, "", "error: Domain not found: no domain with matching name 'nope'\n")


def test_declines_without_a_status_record(running: Env) -> None:
    """A QEMU known only by its pidfile (its starter died before recording it)."""
    rd = rundir(running)
    proc = qemu(running)
    rd.status_file.unlink()
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                               str(rd.pidfile)], start_new_session=True)
    running.calls.procs.append(orphan)
    rd.pidfile.write_text(f"{orphan.pid}\n")
    declines(running)
    # the full path kills the orphan it finds under the lock, and refuses
    assert full_destroy_fails(running) == NOT_RUNNING
    assert orphan.wait(10) is not None
    assert state(running) == ("shut off", "failed")
    proc.kill()


def test_declines_a_damaged_status_record(running: Env) -> None:
    rundir(running).status_file.write_text("{not json")
    declines(running)
    assert full_destroy_fails(running) == NOT_RUNNING  # no record: not running
    assert alive(qemu(running))  # (the fake writes no pidfile to find it by)


@pytest.mark.parametrize("field, value", [("state", "BOGUS"), ("reason", "bogus")])
def test_declines_a_status_record_with_an_unknown_state(running: Env, field: str,
                                                        value: str) -> None:
    rd = rundir(running)
    raw = json.loads(rd.status_file.read_text())
    raw[field] = value
    rd.status_file.write_text(json.dumps(raw))
    declines(running)


def test_declines_when_qemu_is_gone(running: Env) -> None:
    proc = qemu(running)
    proc.kill()
    proc.wait()
    declines(running)
    assert full_destroy_fails(running) == NOT_RUNNING
    assert state(running) == ("shut off", "crashed")
    assert rundir(running).read_status() is None


def test_declines_a_recycled_pid(running: Env) -> None:
    """The pid lives, but it is not the recorded process (another start time)."""
    status = rundir(running).read_status()
    assert status is not None
    rundir(running).write_status(RuntimeStatus(os.getpid(), 1, status.state,
                                               status.reason, status.uuid, status.domid))
    declines(running)
    assert full_destroy_fails(running) == NOT_RUNNING
    assert state(running) == ("shut off", "crashed")
    assert alive(qemu(running))  # neither path kills what it does not know


@pytest.mark.parametrize("reason", [Reason.STARTING_UP, Reason.MIGRATION])
def test_declines_an_unfinished_start(running: Env, reason: Reason) -> None:
    """Paused while starting up or as an incoming migration: if its starter died, the
    full path reconciles (kills it, ``failed``) under the lock and refuses."""
    record_state(running, StateInfo(DomainState.PAUSED, reason))
    running.calls.qemu_status = "prelaunch" if reason is Reason.STARTING_UP else "inmigrate"
    proc = qemu(running)
    declines(running)
    assert full_destroy_fails(running) == NOT_RUNNING
    assert proc.wait(10) is not None
    assert state(running) == ("shut off", "failed")


@pytest.mark.parametrize("recorded, qemu_says, full_state", [
    (DomainState.PMSUSPENDED, "suspended", "pmsuspended"),
    (DomainState.SHUTDOWN, "running", "running"),
    (DomainState.BLOCKED, "running", "running"),
    (DomainState.NOSTATE, "running", "running"),
    (DomainState.SHUTOFF, "running", "running"),
    (DomainState.CRASHED, "running", "running"),
], ids=lambda v: v.name if isinstance(v, DomainState) else v)
def test_declines_other_recorded_states(running: Env, recorded: DomainState,
                                        qemu_says: str, full_state: str) -> None:
    record_state(running, StateInfo(recorded, Reason.UNKNOWN))
    running.calls.qemu_status = qemu_says
    declines(running)
    assert running.svc().state("g").state.text == full_state  # what the full path sees
    proc = qemu(running)
    assert running.svc().destroy("g") == "g"  # the full path destroys
    assert_destroyed(running, proc)


@pytest.mark.parametrize("kind", ["claims", "net"])
def test_declines_while_host_records_exist(running: Env, kind: str) -> None:
    records = HostState(running.root.run_dir / "hostdev")
    if kind == "claims":  # another domain's VF: the full path gives back nothing of it
        records.write_claim(Claim(PciAddress.parse_host_string("0000:03:10.2"), "other",
                                  managed=True))
    else:
        records.net_dir.mkdir(parents=True)
        (records.net_dir / "enp3s0f0_vf1.json").write_text("{}")
    assert records.has_records()
    declines(running)
    proc = qemu(running)
    assert running.svc().destroy("g") == "g"
    assert_destroyed(running, proc)
    assert records.has_records()  # not ours to give back


# QEMU's run states the quick path leaves to the full one, and what the full one does:
# (error or None, domstate --reason afterwards, whether it killed QEMU)
FULL_PATH_AFTER: dict[str, tuple[str | None, tuple[str, str], bool]] = {
    "shutdown": (NOT_RUNNING, ("shut off", "shutdown"), True),
    "postmigrate": (NOT_RUNNING, ("shut off", "migrated"), True),
    "inmigrate": (None, ("shut off", "destroyed"), True),
    "finish-migrate": (None, ("shut off", "destroyed"), True),
    "suspended": (None, ("shut off", "destroyed"), True),
    "io-error": (None, ("shut off", "destroyed"), True),
    "watchdog": (None, ("shut off", "destroyed"), True),
    "debug": (None, ("shut off", "destroyed"), True),
    "save-vm": (None, ("shut off", "destroyed"), True),
    "restore-vm": (None, ("shut off", "destroyed"), True),
    "colo": (None, ("shut off", "destroyed"), True),
}


@pytest.mark.parametrize("paused", [False, True], ids=["recorded-running", "recorded-paused"])
@pytest.mark.parametrize("qemu_says", list(FULL_PATH_AFTER))
def test_declines_other_qemu_run_states(running: Env, qemu_says: str, paused: bool) -> None:
    if paused:
        running.svc().set_paused("g", True)
    running.calls.qemu_status = qemu_says
    proc = qemu(running)
    declines(running)
    error, after, killed = FULL_PATH_AFTER[qemu_says]
    if error is None:
        assert running.svc().destroy("g") == "g"
        assert_destroyed(running, proc)
    else:
        assert full_destroy_fails(running) == error
        assert state(running) == after
    assert alive(proc) is not killed


@pytest.mark.parametrize("qemu_says", ["internal-error", "guest-panicked"])
def test_a_crashed_guest_is_destroyed_by_the_full_path(running: Env, qemu_says: str) -> None:
    running.calls.qemu_status = qemu_says
    proc = qemu(running)
    declines(running)
    try:
        running.svc().destroy("g")
    finally:
        still_running = alive(proc)
    assert not still_running
    assert_destroyed(running, proc)


def test_declines_when_the_monitor_does_not_answer(running: Env) -> None:
    """Another pyvirt holds the monitor: the full path goes by the record."""
    running.calls.fail_connect = True
    proc = qemu(running)
    declines(running)
    assert running.svc().destroy("g") == "g"
    assert_destroyed(running, proc)


def test_declines_on_a_real_monitor_that_never_greets(
        running: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real QMP client, on a socket that accepts but says nothing (QEMU serving
    another client): query_run_state gives up after its timeout and says None."""
    monkeypatch.setattr(pyvirt.qmp.monitor, "Monitor", REAL_MONITOR)
    monkeypatch.setattr(quickstop, "QUERY_TIMEOUT", 0.3)
    rd = rundir(running)
    monkeypatch.chdir(rd.qemu_dir)  # a short socket address, however deep tmp_path is
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        silent.bind("monitor.sock")
        silent.listen(4)
        assert rd.monitor.is_socket()
        assert asyncio.run(quickstop.query_run_state(rd, timeout=0.3)) is None
        declines(running)
    finally:
        silent.close()
    proc = qemu(running)
    assert alive(proc)
    monkeypatch.setattr(runtime_domain, "Monitor", REAL_MONITOR)
    assert running.svc().destroy("g") == "g"  # the full path goes by the record
    assert_destroyed(running, proc)


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", ".g", "..", "a/b", "../g", "/g", "g/"])
def test_declines_names_that_are_no_run_dirs(running: Env, name: str) -> None:
    declines(running, name)
    assert alive(qemu(running))


def test_declines_a_dot_name_even_when_its_records_would_hold(env: Env) -> None:
    env.define(".g")
    env.svc().start(".g")
    proc = qemu(env)
    declines(env, ".g")
    assert env.svc().destroy(".g") == ".g"  # the full path destroys it
    assert_destroyed(env, proc, ".g")


def test_declines_a_name_too_long_for_a_run_dir(running: Env) -> None:
    declines(running, "a" * 300)


def test_a_name_too_long_fails_in_the_cli_like_the_full_path(running: Env) -> None:
    name = "a" * 300
    expected = f"error: Domain not found: no domain with matching name '{name}'\n"
    result = destroy_cli(running, name)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", expected)


# --- the domain lock ----------------------------------------------------------------------


class ShortLock(DomainLock):
    """The 30 s both paths wait for the lock, shortened (no message changes)."""

    def __init__(self, lock_dir: Path, name: str, job: str, timeout: float = 30.0) -> None:
        super().__init__(lock_dir, name, job, min(timeout, 0.2))


@pytest.fixture
def short_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "DomainLock", ShortLock)  # status.domain_lock: every path


def held_by_migrate(env: Env, name: str = "g") -> DomainLock:
    return DomainLock(env.root.run_dir / "locks", name, "migrate")


def test_a_held_lock_fails_the_quick_destroy_like_the_full_one(
        running: Env, short_lock: None) -> None:
    proc = qemu(running)
    expected = ("Timed out during operation: cannot acquire state change lock "
                f"(held by pid {os.getpid()}: migrate)")
    with held_by_migrate(running):
        before = tree(running)
        with pytest.raises(LockTimeoutError) as quick:
            quick_destroy(running.root, "g")
        with pytest.raises(LockTimeoutError) as service:
            # the front door tries the records first: the same error
            lifecycle.destroy(Context.open(running.uri), "g")
        with pytest.raises(LockTimeoutError) as full:
            running.svc().destroy("g")
        cli_result = destroy_cli(running)
        assert tree(running) == before
        assert alive(proc)
    assert str(quick.value) == str(service.value) == str(full.value) == expected
    assert (cli_result.exit_code, cli_result.stdout, cli_result.stderr) == \
        (1, "", f"error: {expected}\n")
    assert state(running) == ("running", "booted")
    assert quick_destroy(running.root, "g")  # once the holder is gone
    assert_destroyed(running, proc)


def test_the_cli_does_not_wait_twice_for_a_held_lock(
        running: Env, short_lock: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The quick path's lock timeout is the command's answer: no second wait on the
    full path."""
    acquired: list[str] = []
    real_acquire = ShortLock.acquire

    def counting(self: DomainLock) -> None:
        acquired.append(self.job)
        real_acquire(self)

    monkeypatch.setattr(ShortLock, "acquire", counting)
    with held_by_migrate(running):
        result = destroy_cli(running)
    assert result.exit_code == 1 and "cannot acquire state change lock" in result.stderr
    assert acquired == ["destroy"]


def test_no_record_means_no_lock_on_the_quick_path(
        env: Env, short_lock: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A domain without a status record is declined before the lock; the full path
    then waits for it and fails as it always did."""
    env.define("g")
    with held_by_migrate(env):
        with monkeypatch.context() as m:
            m.setattr(ShortLock, "acquire",
                      lambda self: pytest.fail("quick_destroy took the lock"))
            declines(env)
        with pytest.raises(LockTimeoutError) as full:
            env.svc().destroy("g")
    assert str(full.value) == ("Timed out during operation: cannot acquire state change "
                               f"lock (held by pid {os.getpid()}: migrate)")


def test_the_lock_is_free_after_a_quick_destroy(running: Env) -> None:
    assert quick_destroy(running.root, "g")
    with DomainLock(running.root.run_dir / "locks", "g", "check", timeout=0):
        pass
