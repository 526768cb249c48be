"""``pyvirt evacuate``: every running guest leaves the host, placed by what each
destination says it can take; a guest no destination can take stays and the exit status
says so. Three embed roots on this machine stand for three hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyvirt.guest.build import GuestImage
from pyvirt.guest.report import SerialLog
from pyvirt.guest.xml import demo_domain_xml
from tests.e2e.conftest import Host, needs_qemu

pytestmark = [pytest.mark.e2e, needs_qemu]


def boot(host: Host, name: str, image: GuestImage, tmp: Path) -> SerialLog:
    xml = tmp / f"{name}.xml"
    xml.write_text(demo_domain_xml(name, image, tmp / f"{name}.serial"))
    host.run("define", str(xml))
    host.run("start", name)
    return SerialLog(tmp / f"{name}.serial", from_end=False)


def test_evacuate_plans_then_moves_every_guest(host: Host, guest_image: GuestImage,
                                               tmp_path: Path) -> None:
    b, c = Host(tmp_path / "b"), Host(tmp_path / "c")
    try:
        serials = [boot(host, n, guest_image, tmp_path) for n in ("g1", "g2")]
        for serial in serials:
            assert serial.wait_for(lambda r: r.bonded and r.probe_ok > 0, 90) is not None
        plan = host.run("evacuate", "--dry-run", b.uri, c.uri)
        rows = {line.split()[0]: line.split()[-1]
                for line in plan.stdout.splitlines()[2:] if line.strip()}
        assert sorted(rows) == ["g1", "g2"] and {rows["g1"], rows["g2"]} == {b.uri, c.uri}
        where = {rows["g1"]: "g1", rows["g2"]: "g2"}  # one each: the fewest planned first
        assert len(host.qemu_pids()) == 2 and b.qemu_pids() == c.qemu_pids() == []
        moved = host.run("evacuate", "--parallel", "2", b.uri, c.uri, timeout=300)
        assert "Evacuated 2 of 2 domains; 0 stayed on this host." in moved.stdout
        assert host.qemu_pids() == [] and len(b.qemu_pids()) == len(c.qemu_pids()) == 1
        for dest in (b, c):
            name = where[dest.uri]
            assert dest.run("domstate", name).stdout.strip() == "running"
            assert name in dest.run("list", "--all", "--name").stdout.split()  # defined there
        assert host.run("list", "--all", "--name").stdout.split() == []  # and gone here
    finally:
        b.kill_all()
        c.kill_all()


def test_a_guest_no_destination_takes_stays_running(host: Host, guest_image: GuestImage,
                                                    tmp_path: Path) -> None:
    b = Host(tmp_path / "b")
    serial = boot(host, "g1", guest_image, tmp_path)
    assert serial.wait_for(lambda r: r.bonded, 90) is not None
    other = tmp_path / "other.xml"  # the name is taken on b by another domain
    other.write_text(demo_domain_xml("g1", guest_image, tmp_path / "other.serial"))
    b.run("define", str(other))
    proc = host.run("evacuate", b.uri, check=False, timeout=300)
    assert proc.returncode == 1
    assert "stays:" in proc.stdout and "already defined with uuid" in proc.stdout
    assert proc.stderr.startswith("error: 1 domain(s) could not be moved: g1 (")
    assert proc.stderr.count("\n") == 1
    assert host.run("domstate", "g1").stdout.strip() == "running"
    assert b.qemu_pids() == []
    host.run("destroy", "g1")
