"""``pyvirt -c qemu+ssh://...`` runs every command on the remote host, through one ssh
connection to the pyvirt there, with the same output, errors and exit status.

The "remote host" is a network namespace the test makes, with an sshd on its loopback;
the commands run inside that namespace too, so nothing is made or sent outside it.
"""

from __future__ import annotations

import os
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
from tests.e2e.conftest import (
    PYVIRT,
    Host,
    needs_qemu,
    needs_ssh_namespaces,
    remove_namespace,
    start_sshd,
)

REMOTE_PYVIRT = Path(sys.executable).parent / "pyvirt"
pytestmark = [
    pytest.mark.e2e, needs_qemu,
    *needs_ssh_namespaces,
]


@dataclass
class Remote:
    namespace: str
    port: int
    keyfile: Path

    def uri(self, root: Path, **extra: str) -> str:
        params = "&".join([f"root={root}", f"keyfile={self.keyfile}", "no_verify=1",
                           *(f"{k}={v}" for k, v in extra.items())])
        return f"qemu+ssh://root@127.0.0.1:{self.port}/embed?{params}"

    def pyvirt(self, uri: str, *args: str, stdin: str | None = None
               ) -> subprocess.CompletedProcess[str]:
        """The pyvirt CLI run inside the namespace, the way a user would run it."""
        env = {k: v for k, v in os.environ.items() if k != "PYVIRT_DEFAULT_URI"}
        return subprocess.run(["ip", "netns", "exec", self.namespace, *PYVIRT, "-c", uri,
                               *args], input=stdin, capture_output=True, text=True,
                              timeout=120, env=env)


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    ns, port = f"pyvirt-r-{secrets.token_hex(3)}", 2200 + secrets.randbelow(500)
    sshd = None
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
                       check=True, capture_output=True)
        sshd, key = start_sshd(ns, "127.0.0.1", tmp_path, port=port)
        yield Remote(ns, port, key)
    finally:
        if sshd is not None:
            sshd.kill()
            sshd.wait()
        remove_namespace(ns)


def test_every_command_runs_on_the_remote_host(remote: Remote, guest_image: GuestImage,
                                               tmp_path: Path) -> None:
    there = Host(tmp_path / "there")  # the remote host's state root, seen from here
    uri = remote.uri(there.root, command=str(REMOTE_PYVIRT))
    xml = tmp_path / "g.xml"
    xml.write_text(demo_domain_xml("g", guest_image, tmp_path / "g.serial"))
    try:
        defined = remote.pyvirt(uri, "define", str(xml))  # the file travels over ssh
        assert defined.returncode == 0, defined.stderr
        assert defined.stdout == f"Domain 'g' defined from {xml}\n"  # named as here
        assert remote.pyvirt(uri, "dumpxml", "g").stdout == there.run("dumpxml", "g").stdout
        assert remote.pyvirt(uri, "list", "--all").stdout == there.run("list", "--all").stdout
        started = remote.pyvirt(uri, "start", "g")
        assert started.returncode == 0, started.stderr
        assert len(there.qemu_pids()) == 1
        assert remote.pyvirt(uri, "domstate", "g").stdout.strip() == "running"
        # the same error, word for word and with the same status, as on the host itself
        far, near = remote.pyvirt(uri, "domstate", "nosuch"), there.run(
            "domstate", "nosuch", check=False)
        assert (far.returncode, far.stdout, far.stderr) == (near.returncode, near.stdout,
                                                            near.stderr)
        assert far.returncode == 1 and far.stderr.count("\n") == 1
        assert remote.pyvirt(uri, "destroy", "g").returncode == 0
        assert there.qemu_pids() == []
        assert remote.pyvirt(uri, "undefine", "g").returncode == 0
        assert "g" not in there.run("list", "--all", "--name").stdout.split()
    finally:
        there.kill_all()


def test_remote_failures_are_one_line(remote: Remote, tmp_path: Path) -> None:
    root = tmp_path / "there"
    old = tmp_path / "old-pyvirt"  # a pyvirt from before the peer protocol
    old.write_text("#!/bin/sh\necho \"Error: No such option: --peer-protocol\" >&2\nexit 2\n")
    old.chmod(0o755)
    stranger = tmp_path / "stranger"  # a key the remote does not know
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                   check=True, capture_output=True)
    cases = [
        (Remote(remote.namespace, remote.port, stranger).uri(root),
         "error: operation failed: cannot reach pyvirt on '127.0.0.1' over ssh: "
         "root@127.0.0.1: Permission denied (publickey"),
        (Remote(remote.namespace, remote.port + 1, remote.keyfile).uri(root),
         "error: operation failed: cannot reach pyvirt on '127.0.0.1' over ssh: "),
        (remote.uri(root, command="/nonexistent/pyvirt"),
         "error: operation failed: pyvirt is not installed on '127.0.0.1'"),
        (remote.uri(root, command=str(old)),
         "error: operation failed: the pyvirt on '127.0.0.1' cannot be driven from this one "
         "(it does not speak pyvirt peer protocol 1): Error: No such option: --peer-protocol"),
    ]
    for uri, message in cases:
        proc = remote.pyvirt(uri, "list", "--all")
        assert proc.returncode == 1, proc
        assert proc.stdout == ""
        assert proc.stderr.startswith(message), proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr
    assert not root.exists()  # nothing was made on either side


def test_migration_between_two_remote_hosts_driven_from_a_third(
        remote: Remote, guest_image: GuestImage, tmp_path: Path) -> None:
    """``pyvirt -c qemu+ssh://A migrate g qemu+ssh://B``: the command runs on A, whose
    pyvirt drives B's agent over its own ssh; the stream goes from A to B directly.
    (A and B are two state roots behind one sshd here; what is shown is the route.)"""
    a, b = Host(tmp_path / "a"), Host(tmp_path / "b")
    on_a = remote.uri(a.root, command=str(REMOTE_PYVIRT))
    on_b = remote.uri(b.root, command=str(REMOTE_PYVIRT))
    xml = tmp_path / "g.xml"
    serial = tmp_path / "g.serial"
    xml.write_text(demo_domain_xml("g", guest_image, serial))
    try:
        assert remote.pyvirt(on_a, "define", str(xml)).returncode == 0
        assert remote.pyvirt(on_a, "start", "g").returncode == 0
        log = SerialLog(serial, from_end=False)
        assert log.wait_for(lambda r: r.bonded and r.probe_ok > 0, 90) is not None
        moved = remote.pyvirt(on_a, "migrate", "--live", "--verbose", "--persistent",
                              "--undefinesource", "g", on_b)
        assert moved.returncode == 0, moved.stderr
        assert "Migration: completed" in moved.stderr  # A's progress, passed through
        assert a.qemu_pids() == [] and len(b.qemu_pids()) == 1
        assert remote.pyvirt(on_b, "domstate", "g").stdout.strip() == "running"
        assert log.wait_for(lambda r: r.bonded and r.probe_ok > 0, 60) is not None
        assert remote.pyvirt(on_b, "destroy", "g").returncode == 0
    finally:
        a.kill_all()
        b.kill_all()
