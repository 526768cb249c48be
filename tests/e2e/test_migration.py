"""Live migration of the teamed demo guest between two embed roots (two "hosts" on one
machine), judged from the guest's own serial reports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pyvirt.guest.build import GuestImage
from pyvirt.guest.report import SerialLog
from pyvirt.guest.xml import demo_domain_xml
from tests.e2e.conftest import PYVIRT, Host, needs_qemu

pytestmark = [pytest.mark.e2e, needs_qemu]
BOOT = 90.0


@pytest.fixture
def dest(tmp_path: Path) -> Host:
    h = Host(tmp_path / "host-b")
    yield h  # type: ignore[misc]
    leftovers = h.qemu_pids()
    h.kill_all()
    assert not leftovers, f"QEMU left running on the destination: {leftovers}"


def boot_bonded(host: Host, image: GuestImage, tmp: Path, kernel_args: str = "") -> SerialLog:
    serial_path = tmp / "g.serial"
    xml = tmp / "g.xml"
    xml.write_text(demo_domain_xml("g", image, serial_path, kernel_args=kernel_args))
    host.run("define", str(xml))
    host.run("start", "g")
    serial = SerialLog(serial_path, from_end=False)
    report = serial.wait_for(lambda r: r.bonded and r.probe_ok > 0, BOOT)
    assert report is not None, f"guest never bonded: {serial.text()[-1500:]}"
    serial.mark()
    return serial


def job(host: Host) -> dict[str, str]:
    out = host.run("domjobinfo", "--completed", "g").stdout
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines())}


def test_live_migration_keeps_guest_on_the_network(host: Host, dest: Host,
                                                    guest_image: GuestImage,
                                                    tmp_path: Path) -> None:
    serial = boot_bonded(host, guest_image, tmp_path)
    before = serial.latest() or serial.wait_for(lambda r: True, 5)
    assert before is not None
    [source_pid] = host.qemu_pids()
    proc = host.run("migrate", "--live", "--verbose", "--persistent", "--undefinesource",
                    "g", dest.uri)
    assert "Migration: completed" in proc.stderr and "wait-unplug" in proc.stderr
    # the guest itself saw its primary go away during migration and come back after
    gone = serial.wait_for(lambda r: r.master is not None and r.primary is None, 10)
    assert gone is not None, "the guest never reported its primary unplugged"
    back = serial.wait_for(lambda r: r.uptime > gone.uptime and r.bonded
                           and r.primary_driver == "e1000e", 30)
    assert back is not None, "the primary never came back on the destination"
    assert back.mac == before.mac
    answering = serial.wait_for(lambda r: r.uptime > back.uptime and r.probe_ok > back.probe_ok,
                                30)
    assert answering is not None, "the guest lost the network after migration"
    lost = (answering.probe_sent - before.probe_sent) - (answering.probe_ok - before.probe_ok)
    assert lost < 60, f"{lost} probes lost"
    # QEMU moved: the source process is gone, the destination runs the guest
    assert not Path(f"/proc/{source_pid}").exists() or source_pid not in host.qemu_pids()
    assert host.qemu_pids() == [] and len(dest.qemu_pids()) == 1
    assert "g" not in host.run("list", "--all", "--name").stdout.split()
    assert dest.run("domstate", "--reason", "g").stdout.strip() == "running (migrated)"
    assert dest.run("dumpxml", "--inactive", "g").stdout.count("<teaming") == 2
    [pair] = json.loads(dest.run("domfailover", "g", "--json").stdout)
    assert pair["negotiated"] is True and pair["plugged"] is True
    stats = job(dest)  # the source no longer knows "g" (--undefinesource)
    assert stats["Job type"] == "Completed" and stats["Operation"] == "Incoming migration"
    for key in ("Wait-unplug time", "Total downtime", "Time elapsed"):
        assert stats[key].endswith(" ms") and int(stats[key].split()[0]) >= 0, stats
    assert int(stats["Wait-unplug time"].split()[0]) >= 200  # QEMU polls every 250 ms
    dest.run("destroy", "g")


def test_paused_guest_is_refused(host: Host, dest: Host, guest_image: GuestImage,
                                 tmp_path: Path) -> None:
    boot_bonded(host, guest_image, tmp_path)
    host.run("suspend", "g")
    proc = host.run("migrate", "--live", "g", dest.uri, check=False)
    assert proc.returncode == 1
    assert "cannot migrate paused domain 'g'" in proc.stderr and "resume" in proc.stderr
    assert host.run("domstate", "g").stdout.strip() == "paused"
    assert dest.qemu_pids() == []
    host.run("destroy", "g")


def test_unplug_timeout_cancels_and_keeps_primary(host: Host, dest: Host,
                                                  guest_image: GuestImage,
                                                  tmp_path: Path) -> None:
    serial = boot_bonded(host, guest_image, tmp_path, kernel_args="pyvirt.nounplug=1")
    proc = host.run("migrate", "--live", "--unplug-timeout", "2", "g", dest.uri, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("error: operation failed: migration cancelled: guest did "
                                   "not release transient device 'ua-net0-primary' within 2 s")
    assert host.run("domstate", "g").stdout.strip() == "running"
    assert dest.qemu_pids() == [] and "g" not in dest.run("list", "--all").stdout
    [pair] = json.loads(host.run("domfailover", "g", "--json").stdout)
    assert pair["plugged"] is True
    report = serial.wait_for(lambda r: r.bonded, 5)
    assert report is not None and report.primary_driver == "e1000e"
    host.run("destroy", "g")


def test_destination_killed_mid_migration(host: Host, dest: Host, guest_image: GuestImage,
                                          tmp_path: Path) -> None:
    serial = boot_bonded(host, guest_image, tmp_path)
    proc = subprocess.Popen([*PYVIRT, "-c", host.uri, "migrate", "--live", "--bandwidth", "2",
                             "g", dest.uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 30
    while "active" not in host.run("domjobinfo", "g").stdout:
        assert time.monotonic() < deadline and proc.poll() is None, "never reached active"
        time.sleep(0.2)
    for pid in dest.qemu_pids():
        os.kill(pid, signal.SIGKILL)
    _out, err = proc.communicate(timeout=90)
    assert proc.returncode == 1 and "job 'migration out' failed" in err, err
    assert "NOT plugged back" not in err
    assert host.run("domstate", "g").stdout.strip() == "running"
    rebonded = serial.wait_for(lambda r: r.bonded and r.primary_driver == "e1000e"
                               and r.probe_ok > 0, 30)
    assert rebonded is not None
    assert dest.qemu_pids() == [] and "g" not in dest.run("list", "--all").stdout
    host.run("destroy", "g")


def test_domjobabort_rolls_back(host: Host, dest: Host, guest_image: GuestImage,
                                tmp_path: Path) -> None:
    boot_bonded(host, guest_image, tmp_path)
    proc = subprocess.Popen([*PYVIRT, "-c", host.uri, "migrate", "--live", "--bandwidth", "2",
                             "g", dest.uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 30
    while "active" not in host.run("domjobinfo", "g").stdout:
        assert time.monotonic() < deadline and proc.poll() is None, "never reached active"
        time.sleep(0.2)
    host.run("domjobabort", "g")
    _out, err = proc.communicate(timeout=60)
    assert err.strip() == "error: operation aborted: job 'migration out' canceled by client"
    assert host.run("domstate", "g").stdout.strip() == "running"
    [pair] = json.loads(host.run("domfailover", "g", "--json").stdout)
    assert pair["plugged"] is True
    assert dest.qemu_pids() == []
    host.run("destroy", "g")


@pytest.mark.parametrize("delay", [0.3, 0.9, 2.0])
def test_killed_migrate_leaves_exactly_one_guest(host: Host, dest: Host,
                                                 guest_image: GuestImage, tmp_path: Path,
                                                 delay: float) -> None:
    """SIGKILL the migrating pyvirt at some point: afterwards the guest runs on exactly one
    side, and both sides' next commands agree."""
    boot_bonded(host, guest_image, tmp_path)
    proc = subprocess.Popen([*PYVIRT, "-c", host.uri, "migrate", "--live", "--bandwidth", "40",
                             "g", dest.uri], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 60
    while True:
        states = [h.run("domstate", "g", check=False).stdout.strip() for h in (host, dest)]
        running = [s for s in states if s in ("running", "paused")]
        if len(running) == 1 and len(host.qemu_pids()) + len(dest.qemu_pids()) == 1:
            break
        assert time.monotonic() < deadline, f"states {states}, qemu {host.qemu_pids()} " \
                                            f"{dest.qemu_pids()}"
        time.sleep(0.5)
    winner = host if states[0] in ("running", "paused") else dest
    [pair] = json.loads(winner.run("domfailover", "g", "--json").stdout)
    assert pair["negotiated"] is True
    winner.run("destroy", "g")
