"""The per-domain run directory: QEMU's own directory inside it (change request R1), long
socket paths (bug B7), and what ``start`` hands to ``process.spawn``."""

from __future__ import annotations

import asyncio
import itertools
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pyvirt.domain.defaults import mac_factory
from pyvirt.domain.io import domain_from_xml
from pyvirt.errors import ProcessError
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.define import prepare_definition
from pyvirt.runtime import process
from pyvirt.runtime.domain import Runtime
from pyvirt.runtime.launch import Launch, spawn_qemu, traverse_for
from pyvirt.runtime.state import Reason
from pyvirt.runtime.status import RunDir
from pyvirt.store.roots import StateRoot, parse_uri

CAPS = QemuCaps.from_json(
    (Path(__file__).resolve().parents[1] / "data" / "caps" / "qemu-7.2-x86_64.json")
    .read_text())
XML = ("<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
       "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
       "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def embed(root: Path) -> StateRoot:
    return StateRoot.for_uri(parse_uri(f"qemu:///embed?root={root}"))


def test_qemu_has_a_directory_of_its_own(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "domain-a")
    rd.create()
    assert rd.qemu_dir == rd.path / "qemu" and mode(rd.qemu_dir) == 0o700
    assert rd.monitor == rd.qemu_dir / "monitor.sock"
    assert rd.pidfile == rd.qemu_dir / "qemu.pid"
    for record in (rd.status_file, rd.live_xml, rd.definition, rd.last_state_file):
        assert record.parent == rd.path


def test_the_monitor_argument_is_relative_only_when_too_long(tmp_path: Path) -> None:
    short = RunDir(Path("/run/pyvirt/qemu/domain-a"))
    assert short.monitor_argument == short.monitor
    long = RunDir(Path("/run/pyvirt/qemu") / f"domain-{'n' * 66}")
    assert len(os.fsencode(long.monitor)) == 108
    assert long.monitor_argument == Path("monitor.sock")
    fits = RunDir(Path("/run/pyvirt/qemu") / f"domain-{'n' * 65}")
    assert fits.monitor_argument == fits.monitor  # exactly 107 bytes


def test_stopping_removes_qemus_directory_without_following_links(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "domain-a")
    rd.create()
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "file").write_text("keep")
    (rd.qemu_dir / "link").symlink_to(outside)
    (rd.qemu_dir / "sub").mkdir()
    (rd.qemu_dir / "sub" / "junk").write_text("x")
    rd.pidfile.write_text("1\n")
    (rd.path / "monitor.sock").write_text("")  # the layout before R1
    rd.status_file.write_text("{}")
    rd.mark_stopped(Reason.DESTROYED)
    assert sorted(p.name for p in rd.path.iterdir()) == ["last-state.json"]
    assert (outside / "file").read_text() == "keep"


def test_a_pid_is_trusted_only_when_its_command_line_names_the_pidfile(
        tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "domain-a")
    rd.create()
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    stranger = subprocess.Popen(sleeper)
    ours = subprocess.Popen([*sleeper, str(rd.pidfile)])
    try:
        assert rd.pidfile_process() is None  # no pidfile
        rd.pidfile.write_text(f"{stranger.pid}\n")
        assert rd.pidfile_process() is None
        rd.pidfile.write_text(f"{ours.pid}\n")
        found = rd.pidfile_process()
        assert found is not None and found.pid == ours.pid
    finally:
        for proc in (stranger, ours):
            proc.kill()
            proc.wait()
    assert rd.pidfile_process() is None  # dead


def exec_seen(pid: int) -> None:
    """Wait until process ``pid`` runs its own program (the sleeper's command line)."""
    deadline = time.monotonic() + 10
    while b"time.sleep(30)" not in Path(f"/proc/{pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, f"process {pid} never ran its program"
        time.sleep(0.01)


def test_a_qemu_that_has_not_written_its_pidfile_yet_is_found(tmp_path: Path) -> None:
    """A start killed right after spawning: QEMU runs, its pidfile is not there yet (or
    empty). Found by its ``-pidfile PATH`` arguments, so no second QEMU joins it."""
    rd = RunDir(tmp_path / "domain-a")
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    mentions = subprocess.Popen([*sleeper, str(rd.pidfile)])  # the path, not the option
    qemu = subprocess.Popen([*sleeper, "-pidfile", str(rd.pidfile)])
    for proc in (mentions, qemu):  # Popen returns after fork: wait for the exec (a loaded
        exec_seen(proc.pid)        # machine showed the parent's command line here)
    try:
        assert rd.pidfile_process() is None  # no qemu/ directory: nothing was started
        rd.create()
        found = rd.pidfile_process()
        assert found is not None and found.pid == qemu.pid
        rd.pidfile.write_text("")  # QEMU has created it, not written it
        found = rd.pidfile_process()
        assert found is not None and found.pid == qemu.pid
    finally:
        for proc in (mentions, qemu):
            proc.kill()
            proc.wait()
    assert rd.pidfile_process() is None


def test_start_hands_qemu_its_directory(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = embed(tmp_path / "root")
    calls: list[dict[str, Any]] = []

    def spawn(argv: tuple[str, ...], log_path: Path, **kwargs: Any) -> process.ProcessId:
        calls.append({"argv": argv, **kwargs})
        raise ProcessError("stop here", argv)

    monkeypatch.setattr(process, "spawn", spawn)
    macs = itertools.count(1)
    domain = prepare_definition(domain_from_xml(XML.format(name="a")), CAPS,
                                mac_factory(lambda _n: bytes([0xAB, 0, next(macs)])))
    for user in (None, "nobody"):
        with pytest.raises(ProcessError, match="stop here"):
            asyncio.run(Runtime(root, qemu_user=user).start(domain, CAPS))
    rd = RunDir(root.domain_run_dir("a"))
    assert [c["cwd"] for c in calls] == [rd.qemu_dir] * 2
    assert [c["hand_over"] for c in calls] == [(rd.qemu_dir,)] * 2
    assert calls[0]["user"] is None and calls[0]["traverse"] == ()
    # the state root and everything below it down to the run directory: all private
    top = tmp_path / "root"
    assert calls[1]["user"] == "nobody"
    assert calls[1]["traverse"] == (top, top / "run", top / "run" / "qemu", rd.path)
    chardev = calls[0]["argv"][calls[0]["argv"].index("-chardev") + 1]
    assert f"path={rd.monitor}," in chardev
    assert calls[0]["argv"][calls[0]["argv"].index("-pidfile") + 1] == str(rd.pidfile)


def test_traverse_skips_directories_others_may_search(tmp_path: Path) -> None:
    root = embed(tmp_path / "root")
    rd = Runtime(root, qemu_user="nobody").run_dir("a")
    rd.create()
    (tmp_path / "root" / "run").chmod(0o755)
    assert traverse_for(root, rd) == (tmp_path / "root", root.run_dir, rd.path)


def test_a_failed_spawn_leaves_no_records(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = embed(tmp_path / "root")
    rd = Runtime(root).run_dir("a")

    def cannot(*_args: Any, **_kwargs: Any) -> process.ProcessId:
        raise ProcessError("cannot execute /nonexistent: No such file or directory")

    monkeypatch.setattr(process, "spawn", cannot)
    launch = Launch("a", "", ("/nonexistent",), "<domain/>", "<domain/>", ())
    with pytest.raises(ProcessError):
        spawn_qemu(root, rd, launch, root.log_dir / "a.log", None)
    assert not rd.live_xml.exists() and not rd.definition.exists()
    assert rd.read_status() is None
