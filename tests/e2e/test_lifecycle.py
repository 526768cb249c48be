"""Lifecycle of a real teamed guest, judged from the guest's own serial reports."""

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


def define(host: Host, image: GuestImage, tmp: Path, name: str = "g1",
           kernel_args: str = "") -> SerialLog:
    serial = tmp / f"{name}.serial"
    xml = tmp / f"{name}.xml"
    xml.write_text(demo_domain_xml(name, image, serial, kernel_args=kernel_args))
    host.run("define", str(xml))
    return SerialLog(serial)


def failover(host: Host, name: str = "g1") -> list[dict[str, object]]:
    return json.loads(host.run("domfailover", name, "--json").stdout)


def test_bonded_guest_lifecycle(host: Host, guest_image: GuestImage, tmp_path: Path) -> None:
    serial = define(host, guest_image, tmp_path)
    assert "shut off" in host.run("list", "--all").stdout
    host.run("start", "g1")
    bonded = serial.wait_for(lambda r: r.bonded and r.primary_driver == "e1000e", BOOT)
    assert bonded is not None, f"guest never bonded: {serial.text()[-2000:]}"
    assert bonded.mac == "52:54:00:" + bonded.mac[9:] and bonded.standby != bonded.primary
    answering = serial.wait_for(lambda r: r.probe_ok >= 5, 30)
    assert answering is not None, "the probe got no replies from the user-mode gateway"
    [pair] = failover(host)
    assert pair == {"persistent": "ua-net0", "transient": "ua-net0-primary",
                    "mac": bonded.mac, "negotiated": True, "plugged": True}
    live = host.run("dumpxml", "g1").stdout
    assert "<alias name='ua-net0'/>" in live and "<alias name='pci.1'/>" in live
    inactive = host.run("dumpxml", "--inactive", "g1").stdout
    assert "<alias name='pci.1'/>" not in inactive
    assert inactive.count(f"<mac address='{bonded.mac}'/>") == 2  # the inherited MAC
    assert host.run("domstate", "--reason", "g1").stdout.strip() == "running (booted)"
    host.run("shutdown", "g1", "--timeout", "60")
    assert host.run("domstate", "--reason", "g1").stdout.strip() == "shut off (shutdown)"
    assert host.qemu_pids() == []


def test_guest_without_failover_driver(host: Host, guest_image: GuestImage,
                                       tmp_path: Path) -> None:
    serial = define(host, guest_image, tmp_path, kernel_args="pyvirt.skip=virtio_net")
    host.run("start", "g1")
    report = serial.wait_for(lambda r: r.probe_sent > 0 or r.uptime > 3, BOOT)
    assert report is not None and report.master is None and report.primary is None
    [pair] = failover(host)
    assert pair["negotiated"] is False and pair["plugged"] is False
    host.run("destroy", "g1")
    assert host.run("domstate", "--reason", "g1").stdout.strip() == "shut off (destroyed)"


def test_killed_qemu_is_reconciled(host: Host, guest_image: GuestImage,
                                   tmp_path: Path) -> None:
    define(host, guest_image, tmp_path)
    host.run("start", "g1")
    [pid] = host.qemu_pids()
    os.kill(pid, signal.SIGKILL)
    assert host.run("domstate", "--reason", "g1").stdout.strip() == "shut off (crashed)"
    assert "shut off" in host.run("list", "--all").stdout
    assert "g1" not in host.run("list").stdout
    host.run("start", "g1")
    assert host.run("domstate", "g1").stdout.strip() == "running"
    host.run("destroy", "g1")


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5])
def test_start_killed_midway_recovers(host: Host, guest_image: GuestImage, tmp_path: Path,
                                      delay: float) -> None:
    define(host, guest_image, tmp_path)
    proc = subprocess.Popen([*PYVIRT, "-c", host.uri, "start", "g1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.kill()
    proc.wait()
    state = host.run("domstate", "g1").stdout.strip()
    assert state in ("running", "shut off")
    if state == "shut off":
        assert host.qemu_pids() == [], "an orphaned QEMU survived the reconciliation"
        host.run("start", "g1")
    assert len(host.qemu_pids()) == 1
    host.run("destroy", "g1")
    assert host.qemu_pids() == []


def test_two_starts_at_once(host: Host, guest_image: GuestImage, tmp_path: Path) -> None:
    define(host, guest_image, tmp_path)
    procs = [subprocess.Popen([*PYVIRT, "-c", host.uri, "start", "g1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(60), *p.communicate()) for p in procs]
    codes = sorted(code for code, _out, _err in results)
    assert codes == [0, 1], results
    loser = next(err for code, _out, err in results if code == 1)
    assert loser.strip() == "error: Requested operation is not valid: domain is already running"
    assert len(host.qemu_pids()) == 1
    host.run("destroy", "g1")


def test_failed_start_names_qemu_error(host: Host, guest_image: GuestImage,
                                       tmp_path: Path) -> None:
    xml = tmp_path / "bad.xml"
    xml.write_text(demo_domain_xml("bad", guest_image, tmp_path / "bad.serial").replace(
        str(guest_image.initrd), str(tmp_path / "missing-initrd.gz")))
    host.run("define", str(xml))
    proc = host.run("start", "bad", check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: internal error: process exited while connecting "
                                  "to monitor: ")
    assert "missing-initrd.gz" in proc.stderr and proc.stderr.count("\n") == 1
    assert host.run("domstate", "--reason", "bad").stdout.strip() == "shut off (failed)"


def test_domxml_to_native_of_a_defined_domain(host: Host, guest_image: GuestImage,
                                              tmp_path: Path) -> None:
    define(host, guest_image, tmp_path)
    by_name = host.run("domxml-to-native", "qemu-argv", "--domain", "g1").stdout
    by_file = host.run("domxml-to-native", "qemu-argv", str(tmp_path / "g1.xml")).stdout
    assert "failover_pair_id" in by_name and '"failover":true' in by_name
    # the stored definition carries the MAC define generated for the pair; so must the file's
    assert by_name.count("52:54:00") == by_file.count("52:54:00") == 2
    missing = host.run("domxml-to-native", "qemu-argv", "--domain", "nope", check=False)
    assert missing.stderr == "error: Domain not found: no domain with matching name 'nope'\n"
