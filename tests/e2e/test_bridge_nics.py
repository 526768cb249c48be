"""Guests with ``type='bridge'`` and ``type='direct'`` NICs on real QEMU: pyvirt makes
the tap (macvtap), QEMU gets its fd, every stop path removes it.

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
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyvirt.guest.build import GuestImage
from pyvirt.guest.report import SerialLog
from pyvirt.guest.xml import demo_domain_xml
from tests.e2e.conftest import Host, needs_qemu

pytestmark = [pytest.mark.e2e, needs_qemu]
BRIDGE = "br12"
# ICMP echo from a raw socket (the machine has no ping): argv ADDRESS COUNT, prints
# "SENT ANSWERED"; one request every 50 ms, each waits up to 1 s for its reply.
PING = """
import os, select, socket, struct, sys, time
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
addr, count = sys.argv[1], int(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident, ok = os.getpid() & 0xffff, 0
for seq in range(count):
    body = struct.pack('!BBHHH', 8, 0, 0, ident, seq) + b'pyvirt-peer-ping'
    sock.sendto(body[:2] + struct.pack('!H', csum(body)) + body[4:], (addr, 0))
    deadline = time.monotonic() + 1.0
    while (left := deadline - time.monotonic()) > 0 and select.select([sock], [], [], left)[0]:
        data, (src, _) = sock.recvfrom(2048)
        icmp = data[(data[0] & 15) * 4:]
        if src == addr and icmp[0] == 0 and struct.unpack('!HH', icmp[4:8]) == (ident, seq):
            ok += 1
            break
    time.sleep(0.05)
print(count, ok)
"""


# ICMP echo at RATE per second for SECONDS (argv ADDRESS SECONDS RATE), replies collected
# as they come; prints "SENT ANSWERED" once the last request had 1 s for its reply.
PING_STREAM = """
import os, select, socket, struct, sys, time
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
addr, seconds, rate = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident, seen, sent = os.getpid() & 0xffff, set(), 0
start = time.monotonic()
end = start + seconds
while time.monotonic() < end + 1.0:
    now = time.monotonic()
    if now < end and sent <= (now - start) * rate:
        body = struct.pack('!BBHHH', 8, 0, 0, ident, sent & 0xffff) + b'pyvirt-peer-ping'
        sock.sendto(body[:2] + struct.pack('!H', csum(body)) + body[4:], (addr, 0))
        sent += 1
    if select.select([sock], [], [], 0.005)[0]:
        data, (src, _) = sock.recvfrom(2048)
        icmp = data[(data[0] & 15) * 4:]
        if src == addr and icmp[0] == 0 and struct.unpack('!H', icmp[4:6])[0] == ident:
            seen.add(struct.unpack('!H', icmp[6:8])[0])
print(sent, len(seen))
"""


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


def bridged_guest_xml(image: GuestImage, tmp: Path, bridge: str,
                      kernel_args: str = "", direct: bool = False) -> Path:
    """The demo guest with its virtio standby on *bridge* (its emulated primary stays
    user-mode: a transient member must be hostdev or pyvirt's emulated stand-in); with
    *direct*, on a macvtap (bridge mode) over the device *bridge* instead."""
    xml = demo_domain_xml("g1", image, tmp / "g1.serial", kernel_args=kernel_args)
    head, sep, rest = xml.partition("<interface type=\"user\">")
    assert sep, xml
    nic = f"<interface type=\"direct\">\n      <source dev=\"{bridge}\" mode=\"bridge\"/>" \
        if direct else f"<interface type=\"bridge\">\n      <source bridge=\"{bridge}\"/>"
    xml = f"{head}{nic}{rest}"
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


@pytest.fixture
def peer(netns: str) -> Iterator[str]:
    """A second namespace, the *peer*, on ``br12`` through a veth, with the address the
    demo guest uses as its gateway (10.0.2.2/24; the guest is 10.0.2.15)."""
    ns = f"{netns}-peer"
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        in_ns(ns, "ip", "link", "set", "lo", "up")
        in_ns(ns, "ip", "link", "add", "p0", "type", "veth", "peer", "name", "p1")
        in_ns(ns, "ip", "link", "set", "p1", "netns", netns)
        in_ns(ns, "ip", "addr", "add", "10.0.2.2/24", "dev", "p0")
        in_ns(ns, "ip", "link", "set", "p0", "up")
        in_ns(netns, "ip", "link", "set", "p1", "master", BRIDGE)
        in_ns(netns, "ip", "link", "set", "p1", "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_a_peer_on_the_bridge_reaches_the_guest(tmp_path: Path, guest_image: GuestImage,
                                                netns: str, peer: str) -> None:
    """Traffic really crosses the tap: without its primary's driver (e1000e skipped) the
    guest's failover master sends through the virtio standby, i.e. the tap on br12."""
    host = Host(tmp_path / "host", netns=netns)
    try:
        host.run("define", str(bridged_guest_xml(guest_image, tmp_path, BRIDGE,
                                                 kernel_args="pyvirt.skip=e1000e")))
        host.run("start", "g1")
        serial = SerialLog(tmp_path / "g1.serial")
        answered = serial.wait_for(lambda r: r.probe_ok >= 5, 90)
        assert answered is not None, f"the guest never reached the peer: {serial.text()[-2000:]}"
        assert answered.primary is None
        ping = subprocess.run(["ip", "netns", "exec", peer, sys.executable, "-c", PING,
                               "10.0.2.15", "20"], capture_output=True, text=True, timeout=60)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        sent, answered_by_guest = map(int, ping.stdout.split())
        assert sent == 20 and answered_by_guest >= 19, ping.stdout
        host.run("destroy", "g1")
        assert not [n for n in links(netns) if n.startswith("vnet")]
    finally:
        host.kill_all()


@pytest.fixture
def veth_peer(netns: str) -> Iterator[str]:
    """A peer namespace at the far end of the veth ``v0`` (in *netns*, up, no address):
    the lower device of a macvtap. The peer has 10.0.2.2/24."""
    ns = f"{netns}-vpeer"
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        in_ns(ns, "ip", "link", "set", "lo", "up")
        in_ns(ns, "ip", "link", "add", "p0", "type", "veth", "peer", "name", "v0")
        in_ns(ns, "ip", "link", "set", "v0", "netns", netns)
        in_ns(ns, "ip", "addr", "add", "10.0.2.2/24", "dev", "p0")
        in_ns(ns, "ip", "link", "set", "p0", "up")
        in_ns(netns, "ip", "link", "set", "v0", "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_direct_macvtap_reachable_and_removed_after_kill(
        tmp_path: Path, guest_image: GuestImage, netns: str, veth_peer: str) -> None:
    host = Host(tmp_path / "host", netns=netns)
    try:
        host.run("define", str(bridged_guest_xml(guest_image, tmp_path, "v0", direct=True,
                                                 kernel_args="pyvirt.skip=e1000e")))
        host.run("start", "g1")
        assert "<target dev='macvtap0'/>" in host.run("dumpxml", "g1").stdout
        tap = links(netns)["macvtap0"]
        assert tap["link"] == "v0" and "UP" in tap["flags"]  # type: ignore[operator]
        serial = SerialLog(tmp_path / "g1.serial")
        answered = serial.wait_for(lambda r: r.probe_ok >= 5, 90)
        assert answered is not None, f"the guest never reached the peer: {serial.text()[-2000:]}"
        assert str(tap["address"]) == answered.mac  # the macvtap carries the guest's MAC
        ping = subprocess.run(["ip", "netns", "exec", veth_peer, sys.executable, "-c", PING,
                               "10.0.2.15", "20"], capture_output=True, text=True, timeout=60)
        sent, answered_by_guest = map(int, ping.stdout.split())
        assert sent == 20 and answered_by_guest >= 19, ping.stdout + ping.stderr
        # a macvtap is a link of its own: QEMU's death does not remove it, pyvirt does
        [pid] = host.qemu_pids()
        os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            if not host.qemu_pids():
                break
            time.sleep(0.1)
        assert "macvtap0" in links(netns) and tap_records(host) == ["macvtap0.json"]
        assert host.run("domstate", "--reason", "g1").stdout.strip() == "shut off (crashed)"
        assert "macvtap0" not in links(netns) and tap_records(host) == []
        host.run("start", "g1")
        assert "<target dev='macvtap1'/>" in host.run("dumpxml", "g1").stdout
        host.run("destroy", "g1")
        assert not [n for n in links(netns) if n.startswith("macvtap")]
        assert tap_records(host) == []
    finally:
        host.kill_all()


def test_bridged_guest_migrates_and_the_peer_keeps_reaching_it(
        tmp_path: Path, guest_image: GuestImage, netns: str, peer: str) -> None:
    """Two embed roots in one namespace, one bridge: the destination makes its own tap
    before the incoming stream (vnet0 is the source's, so it takes vnet1), the source's
    goes once the guest runs there, and a peer pinging at 50/s loses little."""
    source = Host(tmp_path / "host-a", netns=netns)
    dest = Host(tmp_path / "host-b", netns=netns)
    try:
        source.run("define", str(bridged_guest_xml(guest_image, tmp_path, BRIDGE,
                                                   kernel_args="pyvirt.skip=e1000e")))
        source.run("start", "g1")
        serial = SerialLog(tmp_path / "g1.serial")
        assert serial.wait_for(lambda r: r.probe_ok >= 5, 90) is not None, serial.text()[-2000:]
        pinger = subprocess.Popen(["ip", "netns", "exec", peer, sys.executable, "-c",
                                   PING_STREAM, "10.0.2.15", "12", "50"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(2)
            source.run("migrate", "--live", "--persistent", "--undefinesource", "g1", dest.uri)
            out, _ = pinger.communicate(timeout=60)
        finally:
            if pinger.poll() is None:
                pinger.kill()
        sent, answered = map(int, out.split())
        lost = sent - answered
        print(f"peer during migration: sent {sent}, answered {answered}, lost {lost}")
        assert sent >= 500 and lost <= 50, out
        assert "<target dev='vnet1'/>" in dest.run("dumpxml", "g1").stdout
        bridged = {n for n, link in links(netns).items() if link.get("master") == BRIDGE}
        assert bridged == {"p1", "vnet1"}, bridged  # the source's vnet0 is gone
        assert tap_records(source) == [] and tap_records(dest) == ["vnet1.json"]
        dest.run("destroy", "g1")
        assert tap_records(dest) == [] and "vnet1" not in links(netns)
    finally:
        source.kill_all()
        dest.kill_all()
