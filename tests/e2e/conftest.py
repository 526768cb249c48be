"""Fixtures for end-to-end tests on the real QEMU and the demo guest."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyvirt.guest.build import GuestImage, build_guest

QEMU = shutil.which("qemu-system-x86_64")
needs_qemu = pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed")
PYVIRT = [sys.executable, "-m", "pyvirt.cli"]


def child_pids() -> set[int]:
    """Children of this process, zombies included (they stay until reaped)."""
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        pids.update(int(pid) for pid in (task / "children").read_text().split())
    return pids


@pytest.fixture
def no_leftover_children() -> Iterator[None]:
    """Fails the test if it leaves a child process (e.g. a QEMU) behind."""
    before = child_pids()
    yield
    assert child_pids() - before == set(), "a child process (QEMU?) was left behind"


@pytest.fixture(scope="session")
def guest_image() -> GuestImage:
    return build_guest()


@dataclass
class Host:
    """One embed state root: a pretend host for the pyvirt CLI."""

    root: Path
    netns: str | None = None  # run pyvirt (and so its QEMUs) in this network namespace

    @property
    def uri(self) -> str:
        return f"qemu:///embed?root={self.root}"

    def run(self, *args: str, check: bool = True, timeout: float = 120
            ) -> subprocess.CompletedProcess[str]:
        inside = ["ip", "netns", "exec", self.netns] if self.netns else []
        proc = subprocess.run([*inside, *PYVIRT, "-c", self.uri, *args], capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"pyvirt {' '.join(args)} failed ({proc.returncode}): "
                                 f"{proc.stderr.strip()}")
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def qemu_pids(self) -> list[int]:
        """QEMUs whose command line mentions this root (ours, and only ours)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if b"qemu-system" in cmdline and f"{self.root}/".encode() in cmdline \
                    and state != "Z":
                found.append(int(entry.name))
        return found

    def kill_all(self) -> None:
        for pid in self.qemu_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    h = Host(tmp_path / "host")
    yield h
    leftovers = h.qemu_pids()
    h.kill_all()
    assert not leftovers, f"QEMU left running after the test: {leftovers}"


SSHD = "/usr/sbin/sshd"
#: What a test with an sshd in a network namespace of its own needs.
needs_ssh_namespaces = [
    pytest.mark.skipif(not (Path(SSHD).exists() and shutil.which("ssh") and shutil.which("ip")),
                       reason="openssh-server, openssh-client and iproute2 are needed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]


def start_sshd(namespace: str, listen: str, workdir: Path, *, port: int = 22,
               client_namespace: str | None = None) -> tuple[subprocess.Popen[bytes], Path]:
    """An sshd for root with a fresh key pair, in *namespace* on *listen*:*port*; returns
    it (the caller kills it) and the client key, once a client in *client_namespace*
    (default: the same) logs in. For tests only: no PAM, no strict modes."""
    key, hostkey = workdir / "id", workdir / "hostkey"
    for path in (key, hostkey):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                       check=True, capture_output=True)
    (workdir / "authorized_keys").write_text(Path(f"{key}.pub").read_text())
    Path("/run/sshd").mkdir(exist_ok=True)
    sshd = subprocess.Popen(
        ["ip", "netns", "exec", namespace, SSHD, "-D", "-e", "-f", "/dev/null",
         "-h", str(hostkey), "-o", f"ListenAddress={listen}:{port}",
         "-o", "PermitRootLogin=yes", "-o", f"AuthorizedKeysFile={workdir / 'authorized_keys'}",
         "-o", "StrictModes=no", "-o", "UsePAM=no", "-o", "PidFile=none"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while subprocess.run(
            ["ip", "netns", "exec", client_namespace or namespace, "ssh", "-i", str(key),
             "-p", str(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
             "-o", "ConnectTimeout=2", f"root@{listen}", "true"],
            capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            sshd.kill()
            sshd.wait()
            raise AssertionError("sshd in the namespace never answered")
        time.sleep(0.2)
    return sshd, key


def remove_namespace(name: str) -> None:
    """Kill what runs in network namespace *name*, then delete it."""
    for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                              text=True).stdout.split():
        subprocess.run(["kill", "-9", pid], capture_output=True)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
