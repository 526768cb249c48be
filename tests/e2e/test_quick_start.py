"""``start`` through a launch plan, on the real QEMU and the real ``pyvirt`` command.

The guests are small (no kernel, no disk unless asked: QEMU idles in the firmware), so
each start takes a fraction of a second. Which way a start went is told two ways that do
not depend on timing: the full path rewrites the plan file (a new inode), the quick path
leaves it alone; and the quick path never imports the XML model
(``python -X importtime``), while the full path imports it before it spawns QEMU.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PYVIRT, Host, needs_qemu

pytestmark = [pytest.mark.e2e, needs_qemu]

MODEL = "pyvirt.domain.model"
MONITOR = "pyvirt.qmp.monitor"


def small_xml(name: str, *, memory_mib: int = 64, link_down: bool = False,
              disk: Path | None = None) -> str:
    link = "<link state='down'/>" if link_down else ""
    disk_el = "" if disk is None else (
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk>")
    return (f"<domain type='qemu'><name>{name}</name>"
            f"<memory unit='MiB'>{memory_mib}</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
            "<features><acpi/></features><devices>"
            "<emulator>/usr/bin/qemu-system-x86_64</emulator>"
            f"{disk_el}<interface type='user'><model type='virtio'/>{link}</interface>"
            "<memballoon model='none'/></devices></domain>\n")


def define(host: Host, tmp: Path, name: str = "q", **kwargs: Any) -> None:
    xml = tmp / f"{name}.xml"
    xml.write_text(small_xml(name, **kwargs))
    host.run("define", str(xml))


def plan_file(host: Host, name: str = "q") -> Path:
    return host.root / "cache" / "qemu" / "launch" / f"{name}.json"


def run_dir(host: Host, name: str = "q") -> Path:
    return host.root / "run" / "qemu" / f"domain-{name}"


@dataclass
class Start:
    returncode: int
    stdout: str
    stderr: str  # without the import-time lines
    imports: list[str]  # pyvirt's modules in the order their import completed

    def imported_before(self, first: str, second: str) -> bool:
        return first in self.imports and (second not in self.imports or
                                          self.imports.index(first) <
                                          self.imports.index(second))


def start(host: Host, name: str = "q", *options: str) -> Start:
    """``pyvirt start`` under ``python -X importtime``."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "pyvirt.cli",
                           "-c", host.uri, "start", *options, name],
                          capture_output=True, text=True, timeout=120)
    imports, other = split_importtime(proc.stderr)
    return Start(proc.returncode, proc.stdout, other, imports)


def split_importtime(stderr: str) -> tuple[list[str], str]:
    """pyvirt's modules in the order ``-X importtime`` saw their import complete, and the
    rest of *stderr*."""
    imports, other = [], []
    for line in stderr.splitlines(keepends=True):
        if line.startswith("import time:"):
            module = line.rsplit("|", 1)[1].strip()
            if module.startswith("pyvirt"):
                imports.append(module)
        else:
            other.append(line)
    return imports, "".join(other)


def quick(host: Host, name: str = "q", *options: str) -> Start:
    """A start that must go through the plan."""
    before = plan_file(host, name).stat()
    done = start(host, name, *options)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Domain '{name}' started\n"
    assert MODEL not in done.imports, "the quick path built the model"
    after = plan_file(host, name).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    return done


def full(host: Host, name: str = "q", *options: str) -> Start:
    """A start that must take the full path (and leave a fresh plan)."""
    before = plan_file(host, name).stat().st_ino if plan_file(host, name).exists() else None
    done = start(host, name, *options)
    assert done.returncode == 0, done.stderr
    assert MODEL in done.imports
    assert plan_file(host, name).stat().st_ino != before
    return done


def the_plan(host: Host, name: str = "q") -> dict[str, Any]:
    plan: dict[str, Any] = json.loads(plan_file(host, name).read_text())
    return plan


def qemu_argv(host: Host, name: str = "q") -> list[str]:
    pid = json.loads((run_dir(host, name) / "status.json").read_text())["pid"]
    assert host.qemu_pids() == [pid]
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def records(host: Host, name: str = "q") -> dict[str, str | None]:
    """The run directory's files (content of pyvirt's XML records), but the record of
    how the guest last stopped (left by the previous run on either path)."""
    rd = run_dir(host, name)
    return {str(p.relative_to(rd)): p.read_text() if p.suffix == ".xml" else None
            for p in sorted(rd.rglob("*"))
            if (p.is_file() or p.is_socket()) and p.name != "last-state.json"}


def native_argv(host: Host, name: str = "q") -> list[str]:
    """``domxml-to-native --domain NAME`` as a POSIX shell reads it."""
    native = host.run("domxml-to-native", "qemu-argv", "--domain", name).stdout
    words = subprocess.run(["sh", "-c", 'eval "set -- $1"; printf "%s\\0" "$@"', "sh",
                            native], capture_output=True, text=True, check=True).stdout
    return words.split("\0")[:-1]


def without_times(message: str) -> str:
    """QEMU stamps its messages (``-msg timestamp=on``)."""
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ", "TIME ", message)


def state(host: Host, name: str = "q") -> str:
    return host.run("domstate", "--reason", name).stdout.strip()


def test_a_second_start_goes_through_the_plan(host: Host, tmp_path: Path) -> None:
    define(host, tmp_path)
    first = full(host)
    assert MONITOR in first.imports
    # a plan holds the command line and the XML: as private as the definition
    assert stat.S_IMODE(plan_file(host).stat().st_mode) == 0o600
    assert stat.S_IMODE(plan_file(host).parent.stat().st_mode) == 0o700
    full_argv = qemu_argv(host)
    full_records = records(host)
    full_live = host.run("dumpxml", "q").stdout
    assert set(full_records) >= {"definition.xml", "live.xml", "status.json",
                                 "qemu/monitor.sock", "qemu/qemu.pid"}
    host.run("destroy", "q")

    quick(host)
    assert state(host) == "running (booted)"
    argv = qemu_argv(host)
    assert argv == the_plan(host)["argv"] == full_argv
    assert native_argv(host) == argv
    assert records(host) == full_records
    assert host.run("dumpxml", "q").stdout == full_live
    host.run("destroy", "q")
    assert state(host) == "shut off (destroyed)"

    plan_file(host).unlink()  # the full path once more: the same live XML
    full(host)
    assert host.run("dumpxml", "q").stdout == full_live
    host.run("destroy", "q")
    assert host.qemu_pids() == []


def test_paused_through_the_plan(host: Host, tmp_path: Path) -> None:
    define(host, tmp_path)
    full(host)
    host.run("destroy", "q")
    quick(host, "q", "--paused")
    assert state(host) == "paused (user)"
    host.run("resume", "q")
    assert state(host) == "running (unpaused)"
    host.run("destroy", "q")


def test_a_link_starts_down_through_the_plan(host: Host, tmp_path: Path) -> None:
    """QEMU 7.2 reports a NIC's link state nowhere in QMP (not in ``info network``, no
    QOM property), so this checks the live record and the plan's list; the unit tests
    check that the quick path sends ``set_link``."""
    define(host, tmp_path, link_down=True)
    full(host)
    [alias] = the_plan(host)["link_down"]
    assert host.run("domif-getlink", "q", alias).stdout == f"{alias} down\n"
    host.run("destroy", "q")
    quick(host)
    assert state(host) == "running (booted)"
    assert host.run("domif-getlink", "q", alias).stdout == f"{alias} down\n"
    host.run("destroy", "q")


def test_a_redefined_domain_never_uses_the_stale_plan(host: Host, tmp_path: Path) -> None:
    define(host, tmp_path, memory_mib=64)
    full(host)
    old = the_plan(host)["argv"]
    host.run("destroy", "q")
    define(host, tmp_path, memory_mib=96)
    full(host)
    argv = qemu_argv(host)
    assert old[old.index("-m") + 1] == "64"
    assert argv[argv.index("-m") + 1] == "96"
    assert the_plan(host)["argv"] == argv
    host.run("destroy", "q")
    quick(host)  # and the fresh plan is used from now on
    assert qemu_argv(host) == argv
    host.run("destroy", "q")


def test_qemu_failing_through_the_plan(host: Host, tmp_path: Path) -> None:
    """The disk image is not part of the key: removing it makes QEMU fail on the quick
    path exactly where it would fail on the full one."""
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    define(host, tmp_path, disk=disk)
    full(host)
    host.run("destroy", "q")
    disk.unlink()

    failed = start(host)
    assert failed.returncode == 1
    assert failed.imported_before(MONITOR, MODEL), "the failure was not on the quick path"
    assert failed.stderr.startswith("error: internal error: process exited while "
                                    "connecting to monitor: ")
    assert str(disk) in failed.stderr and failed.stderr.count("\n") == 1
    assert state(host) == "shut off (failed)"
    assert host.qemu_pids() == []
    assert not (run_dir(host) / "status.json").exists()

    plan_file(host).unlink()
    again = start(host)
    assert again.returncode == 1 and MODEL in again.imports
    assert again.imported_before(MODEL, MONITOR)  # the full path, this time
    assert without_times(again.stderr) == without_times(failed.stderr)
    assert state(host) == "shut off (failed)"
    assert host.qemu_pids() == []
    assert not plan_file(host).exists()  # a failed start leaves no plan


def test_two_quick_starts_at_once(host: Host, tmp_path: Path) -> None:
    define(host, tmp_path)
    full(host)
    host.run("destroy", "q")
    procs = [subprocess.Popen([*PYVIRT, "-c", host.uri, "start", "q"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(60), *p.communicate()) for p in procs]
    assert sorted(code for code, _out, _err in results) == [0, 1], results
    loser = next(err for code, _out, err in results if code == 1)
    assert loser == "error: Requested operation is not valid: domain is already running\n"
    assert len(host.qemu_pids()) == 1
    assert state(host) == "running (booted)"
    host.run("destroy", "q")


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3])
def test_a_quick_start_killed_midway_is_reconciled(host: Host, tmp_path: Path,
                                                   delay: float) -> None:
    define(host, tmp_path)
    full(host)
    host.run("destroy", "q")
    proc = subprocess.Popen([*PYVIRT, "-c", host.uri, "start", "q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.kill()
    proc.wait()
    current = host.run("domstate", "q").stdout.strip()
    assert current in ("running", "shut off")
    if current == "shut off":
        assert host.qemu_pids() == [], "an orphaned QEMU survived the reconciliation"
        host.run("start", "q")
    assert len(host.qemu_pids()) == 1
    assert state(host) == "running (booted)"
    host.run("destroy", "q")
    assert host.qemu_pids() == []


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


@pytest.mark.skipif(os.geteuid() != 0, reason="running QEMU as another user needs root")
def test_qemu_user_through_the_plan(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody").pw_uid
    base = Path(tempfile.mkdtemp(prefix="quser", dir="/tmp"))
    base.chmod(0o711)  # pytest's tmp_path is root-only: QEMU could not reach its files
    host = Host(base / "root")
    try:
        (host.root / "etc").mkdir(parents=True, mode=0o700)
        host.root.chmod(0o700)
        conf = host.root / "etc" / "pyvirt.conf"
        conf.write_text("qemu_user = nobody\n")
        define(host, tmp_path)
        full(host)
        assert the_plan(host)["key"]["qemu_user"] == "nobody"
        [pid] = host.qemu_pids()
        assert uid_of(pid) == nobody
        host.run("destroy", "q")
        quick(host)
        [pid] = host.qemu_pids()
        assert uid_of(pid) == nobody and state(host) == "running (booted)"
        host.run("destroy", "q")
        conf.write_text("# QEMU runs as the caller\n")
        full(host)  # the plan was for another user
        [pid] = host.qemu_pids()
        assert uid_of(pid) == os.geteuid()
        host.run("destroy", "q")
    finally:
        leftovers = host.qemu_pids()
        host.kill_all()
        shutil.rmtree(base)
    assert leftovers == []
