"""Cross-host live migration over qemu+ssh://: hosts A and B are two network namespaces
the test makes, joined by a veth pair; B runs its own sshd. The control channel runs over
OpenSSH, QEMU's stream over TCP across the veth. Nothing is made in the machine's own
namespace."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyvirt.guest.build import GuestImage
from pyvirt.guest.report import SerialLog
from pyvirt.guest.xml import demo_domain_xml
from tests.e2e.conftest import Host, needs_qemu, needs_ssh_namespaces, remove_namespace, start_sshd

pytestmark = [
    pytest.mark.e2e, needs_qemu,
    *needs_ssh_namespaces,
]


@dataclass
class RemoteHost:
    namespace: str
    address: str
    keyfile: Path
    source_namespace: str  # host A: where the migrating side runs


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[RemoteHost]:
    tag = secrets.token_hex(3)
    ns, ns_a, veth_a, veth_b = f"pyvirt-b-{tag}", f"pyvirt-a-{tag}", f"pva{tag}", f"pvb{tag}"
    octet = 2 + secrets.randbelow(250)
    here, there = f"10.231.{octet}.1", f"10.231.{octet}.2"
    sshd = None
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "netns", "add", ns_a)
        # made inside A at once: the machine's own namespace never holds either end
        sh("ip", "netns", "exec", ns_a, "ip", "link", "add", veth_a, "type", "veth",
           "peer", "name", veth_b)
        sh("ip", "netns", "exec", ns_a, "ip", "link", "set", veth_b, "netns", ns)
        sh("ip", "netns", "exec", ns_a, "ip", "addr", "add", f"{here}/24", "dev", veth_a)
        sh("ip", "netns", "exec", ns_a, "ip", "link", "set", veth_a, "up")
        sh("ip", "netns", "exec", ns_a, "ip", "link", "set", "lo", "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{there}/24", "dev", veth_b)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", veth_b, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        sshd, key = start_sshd(ns, there, tmp_path, client_namespace=ns_a)
        remote = RemoteHost(ns, there, key, ns_a)
        yield remote
    finally:
        if sshd is not None:
            sshd.kill()
            sshd.wait()
        for name in (ns, ns_a):
            remove_namespace(name)

def test_migration_over_ssh_to_another_namespace(remote: RemoteHost,
                                                 guest_image: GuestImage, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host(tmp_path / "host-a", netns=remote.source_namespace)
    dest = Host(tmp_path / "host-b")  # same filesystem, other network namespace
    dest_uri = (f"qemu+ssh://root@{remote.address}/embed?root={dest.root}"
                f"&keyfile={remote.keyfile}&no_verify=1")
    monkeypatch.setenv("PYVIRT_REMOTE_COMMAND", str(Path(sys.executable).parent / "pyvirt"))
    serial_path = tmp_path / "g.serial"
    xml = tmp_path / "g.xml"
    xml.write_text(demo_domain_xml("g", guest_image, serial_path))
    host.run("define", str(xml))
    host.run("start", "g")
    serial = SerialLog(serial_path, from_end=False)
    assert serial.wait_for(lambda r: r.bonded and r.probe_ok > 0, 90) is not None
    serial.mark()
    try:
        proc = host.run("migrate", "--live", "--verbose", "g", dest_uri, timeout=180)
        assert "Migration: completed" in proc.stderr
        back = serial.wait_for(lambda r: r.bonded and r.primary_driver == "e1000e"
                               and r.probe_ok > 0, 60)
        assert back is not None, "the guest did not re-bond on host B"
        assert host.qemu_pids() == [] and len(dest.qemu_pids()) == 1
        [pid] = dest.qemu_pids()
        netns = subprocess.run(["ip", "netns", "identify", str(pid)], capture_output=True,
                               text=True).stdout.strip()
        assert netns == remote.namespace, "the destination QEMU is not on host B"
        [pair] = json.loads(dest.run("domfailover", "g", "--json").stdout)
        assert pair["negotiated"] is True and pair["plugged"] is True
        assert host.run("domstate", "--reason", "g").stdout.strip() == "shut off (migrated)"
        dest.run("destroy", "g")
    finally:
        host.kill_all()
        dest.kill_all()
