"""A guest with a ``type='bridge'`` NIC on real QEMU: pyvirt makes the tap, QEMU gets
its fd, every stop path removes it.

Everything runs inside a network namespace this test creates (and deletes): the
bridge, the tap, pyvirt and its QEMU. Nothing is created in the machine's own
namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyvirt.guest.build import GuestImage
from pyvirt.guest.xml import demo_domain_xml
from tests.e2e.conftest import Host, needs_qemu

pytestmark = [pytest.mark.e2e, needs_qemu]
BRIDGE = "br12"


def in_ns(ns: str, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], check=True,
                          capture_output=True, text=True, timeout=30).stdout


def links(ns: str) -> dict[str, dict[str, object]]:
    return {link["ifname"]: link
            for link in json.loads(in_ns(ns, "ip", "-j", "link", "show"))}


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh network namespace with the bridge ``br12`` (up) in it."""
    ns = f"pyvirt-tap-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        in_ns(ns, "ip", "link", "set", "lo", "up")
        in_ns(ns, "ip", "link", "add", BRIDGE, "type", "bridge")
        in_ns(ns, "ip", "link", "set", BRIDGE, "up")
        yield ns
    finally:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def bridged_guest_xml(image: GuestImage, tmp: Path, bridge: str) -> Path:
    """The demo guest with its virtio standby on *bridge* (its emulated primary stays
    user-mode: a transient member must be hostdev or pyvirt's emulated stand-in)."""
    xml = demo_domain_xml("g1", image, tmp / "g1.serial")
    head, sep, rest = xml.partition("<interface type=\"user\">")
    assert sep, xml
    xml = f"{head}<interface type=\"bridge\">\n      <source bridge=\"{bridge}\"/>{rest}"
    path = tmp / "g1.xml"
    path.write_text(xml)
    return path


def tap_records(host: Host) -> list[str]:
    taps = host.root / "run" / "qemu" / "hostdev" / "taps"
    return sorted(p.name for p in taps.glob("*.json")) if taps.is_dir() else []


def test_bridge_nic_tap_lifecycle(tmp_path: Path, guest_image: GuestImage, netns: str) -> None:
    host = Host(tmp_path / "host", netns=netns)
    try:
        # a missing bridge: libvirt's words, nothing made, nothing recorded
        host.run("define", str(bridged_guest_xml(guest_image, tmp_path, "nobr0")))
        refused = host.run("start", "g1", check=False)
        assert refused.returncode != 0
        assert "Cannot get interface MTU on 'nobr0': No such device" in refused.stderr
        assert tap_records(host) == [] and host.qemu_pids() == []
        assert not [n for n in links(netns) if n.startswith("vnet")]

        host.run("define", str(bridged_guest_xml(guest_image, tmp_path, BRIDGE)))
        host.run("start", "g1")
        live = host.run("dumpxml", "g1").stdout
        assert "<target dev='vnet0'/>" in live
        assert "<target dev=" not in host.run("dumpxml", "--inactive", "g1").stdout
        tap = links(netns)["vnet0"]
        assert tap["master"] == BRIDGE and "UP" in tap["flags"]  # type: ignore[operator]
        guest_mac = host.run("domiflist", "g1").stdout
        assert str(tap["address"]).startswith("fe:") and str(tap["address"])[3:] in guest_mac
        assert tap_records(host) == ["vnet0.json"]
        [pid] = host.qemu_pids()
        netdev = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert any(arg.startswith(b'{"type":"tap","fd":"') for arg in netdev), netdev

        host.run("destroy", "g1")
        assert "vnet0" not in links(netns) and tap_records(host) == []

        # kill -9 of QEMU: the next command that touches the domain cleans up
        host.run("start", "g1")
        assert "<target dev='vnet1'/>" in host.run("dumpxml", "g1").stdout
        assert links(netns)["vnet1"]["master"] == BRIDGE
        [pid] = host.qemu_pids()
        os.kill(pid, signal.SIGKILL)
        assert host.run("domstate", "--reason", "g1").stdout.strip() == "shut off (crashed)"
        assert "vnet1" not in links(netns) and tap_records(host) == []
        assert host.qemu_pids() == []
    finally:
        host.kill_all()
