"""Boot the demo guest on raw QEMU (TCG) and check what the guest itself reports.

The command line is the proven one of qemu-failover.md §4: a virtio-net standby with
``failover=on`` and a hidden e1000e primary paired to it, same MAC, each on a slirp netdev
with ``restrict=on`` (slirp still answers pings to its own gateway address 10.0.2.2).
Every QEMU started here is killed in teardown, and no child process may be left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from qemu.qmp import QMPClient

from pyvirt.errors import HostError
from pyvirt.guest import build, debian
from pyvirt.guest.build import GuestImage, build_guest
from pyvirt.guest.xml import BASE_KERNEL_ARGS, demo_mac

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                       reason="qemu-system-x86_64 is not installed"),
]

MAC = demo_mac("pyvirt-e2e-guest")
BOOT_TIMEOUT = 60.0
LINE = re.compile(
    r"PYVIRT-GUEST uptime=(?P<uptime>\d+\.\d\d) master=(?P<master>\S+) mac=(?P<mac>\S+)"
    r" standby=(?P<standby>\S+) primary=(?P<primary>\S+)"
    r" primary_driver=(?P<primary_driver>\S+)"
    r" probe_sent=(?P<probe_sent>\d+) probe_ok=(?P<probe_ok>\d+)"
)

Status = dict[str, str]


@pytest.fixture(autouse=True)
def _no_leftover_children(no_leftover_children: None) -> None:
    """Every test here must reap whatever it started."""


@pytest.fixture(scope="session")
def guest_image() -> GuestImage:
    """The demo guest, built once into the default cache (~/.cache/pyvirt/guest)."""
    return build_guest()


class RawGuest:
    """One QEMU running the demo guest, its serial output in a file, QMP on a socket."""

    def __init__(self, image: GuestImage, workdir: Path, kernel_args: str) -> None:
        self.serial = workdir / "serial.log"
        self.qmp = workdir / "qmp.sock"
        self.stderr = workdir / "qemu.stderr"
        argv = [
            "qemu-system-x86_64", "-name", "pyvirt-e2e", "-machine", "q35,accel=tcg",
            "-m", "256", "-smp", "1", "-nodefaults", "-no-user-config",
            "-display", "none", "-vga", "none",
            "-kernel", str(image.boot_kernel), "-initrd", str(image.initrd),
            "-append", f"{BASE_KERNEL_ARGS} {kernel_args}".strip(),
            "-serial", f"file:{self.serial}",
            "-qmp", f"unix:{self.qmp},server=on,wait=off",
            "-device", "pcie-root-port,id=root0,bus=pcie.0,chassis=1,addr=0x1",
            "-device", "pcie-root-port,id=root1,bus=pcie.0,chassis=2,addr=0x2",
            "-netdev", "user,id=hs0,restrict=on",
            "-device", f"virtio-net-pci,netdev=hs0,id=standby0,failover=on,mac={MAC},"
                       "bus=root0,romfile=",
            "-netdev", "user,id=hs1,restrict=on",
            "-device", f"e1000e,netdev=hs1,id=primary0,failover_pair_id=standby0,mac={MAC},"
                       "bus=root1,romfile=",
        ]
        self.started = time.monotonic()
        with self.stderr.open("wb") as err:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=err)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def text(self) -> str:
        try:
            return self.serial.read_bytes().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def statuses(self) -> list[Status]:
        """The PYVIRT-GUEST lines so far; each must be a complete line of its own."""
        lines = self.text().split("\n")[:-1]  # the last one may still be incomplete
        found: list[Status] = []
        for line in lines:
            if "PYVIRT-GUEST" not in line:
                continue
            match = LINE.fullmatch(line.rstrip("\r"))
            assert match is not None, f"malformed status line: {line!r}"
            found.append(match.groupdict())
        return found

    def wait_for(self, what: str, predicate: Callable[[Status], bool],
                 timeout: float = BOOT_TIMEOUT) -> Status:
        """Poll the serial file until a status line satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            statuses = self.statuses()
            for status in statuses[seen:]:
                if predicate(status):
                    return status
            seen = len(statuses)
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.text().splitlines()[-25:])
                pytest.fail(f"guest never reported {what} (QEMU exit "
                            f"{self.process.poll()}); serial tail:\n{tail}")
            time.sleep(0.05)


@pytest.fixture
def launch(guest_image: GuestImage) -> Iterator[Callable[[str], RawGuest]]:
    """Start guests (kernel arguments as parameter); kill all of them at teardown."""
    guests: list[RawGuest] = []
    # a short directory: the QMP socket path must fit in sun_path
    workdir = Path(tempfile.mkdtemp(prefix="pyvirt-e2e-"))

    def start(kernel_args: str = "") -> RawGuest:
        directory = workdir / str(len(guests))
        directory.mkdir()
        guests.append(RawGuest(guest_image, directory, kernel_args))
        return guests[-1]

    try:
        yield start
    finally:
        for guest in guests:
            guest.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def bonded(status: Status) -> bool:
    return (status["master"] != "-" and status["standby"] != "-"
            and status["primary_driver"] == "e1000e")


def test_guest_bonds_standby_and_e1000e_primary_and_reaches_gateway(
    launch: Callable[[str], RawGuest],
) -> None:
    guest = launch("")
    first = guest.wait_for("a bonded failover master", bonded)
    took = time.monotonic() - guest.started
    assert first["mac"] == MAC
    assert first["primary"] not in ("-", first["master"], first["standby"])
    assert first["standby"] != first["master"]
    reaching = guest.wait_for("a probe reply", lambda s: bonded(s) and int(s["probe_ok"]) > 0)
    later = guest.wait_for(
        "more probe replies",
        lambda s: int(s["probe_ok"]) >= int(reaching["probe_ok"]) + 5, timeout=15,
    )
    assert bonded(later)
    assert int(later["probe_sent"]) >= int(later["probe_ok"])
    print(f"bonded {took:.1f} s after launch (guest uptime {first['uptime']} s)")

    # A migration (to a sink) makes QEMU request the unplug; the guest releases the primary.
    statuses = asyncio.run(_migrate_to_sink(guest, watch=20, resume=True))
    assert statuses[-1] == "completed" and "wait-unplug" in statuses, statuses
    released = guest.wait_for("the primary released", lambda s: s["primary"] == "-")
    assert (released["master"], released["standby"]) == (first["master"], first["standby"])


def test_nounplug_guest_never_releases_the_primary(launch: Callable[[str], RawGuest]) -> None:
    guest = launch("pyvirt.nounplug=1")
    guest.wait_for("a bonded failover master", bonded)
    assert "pyvirt-init: nounplug: gpe" in guest.text()
    before = len(guest.statuses())
    statuses = asyncio.run(_migrate_to_sink(guest, watch=3, resume=False))
    assert statuses == ["setup", "wait-unplug"], statuses  # normally active after 0.25 s
    guest.wait_for("a status line after the unplug request",
                   lambda _s: len(guest.statuses()) > before + 2, timeout=10)
    assert all(bonded(s) for s in guest.statuses()[before:])


async def _migrate_to_sink(guest: RawGuest, *, watch: float, resume: bool) -> list[str]:
    """Migrate to a discarding sink; return the MIGRATION statuses seen within ``watch`` s
    (stopping at completed/failed/cancelled). ``resume`` continues the source afterwards.
    """
    client = QMPClient("pyvirt-e2e")
    await client.connect(str(guest.qmp))
    statuses: list[str] = []
    try:
        await client.execute("migrate-set-capabilities", {
            "capabilities": [{"capability": "events", "state": True}],
        })
        await client.execute("migrate", {"uri": "exec:cat >/dev/null"})
        deadline = time.monotonic() + watch
        while not statuses or statuses[-1] not in ("completed", "failed", "cancelled"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                event = await asyncio.wait_for(client.events.get(), remaining)
            except TimeoutError:
                break
            data = event["data"] if event["event"] == "MIGRATION" else None
            if isinstance(data, dict):
                statuses.append(str(data["status"]))
        if resume:
            await client.execute("cont")
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()
    return statuses


def test_guest_without_virtio_net_never_gets_a_master(
    launch: Callable[[str], RawGuest],
) -> None:
    guest = launch("pyvirt.skip=virtio_net")
    guest.wait_for("three status lines", lambda _s: len(guest.statuses()) >= 3)
    statuses = guest.statuses()
    assert all(s["master"] == "-" and s["primary"] == "-" for s in statuses), statuses
    assert "pyvirt-init: skipping module virtio_net" in guest.text()


async def _power_down(guest: RawGuest, timeout: float) -> list[str]:
    """Send system_powerdown; return the events seen until QEMU exits."""
    client = QMPClient("pyvirt-e2e")
    await client.connect(str(guest.qmp))
    names: list[str] = []
    try:
        await client.execute("system_powerdown")
        deadline = time.monotonic() + timeout
        while "SHUTDOWN" not in names:
            event = await asyncio.wait_for(client.events.get(), deadline - time.monotonic())
            names.append(str(event["event"]))
        await asyncio.to_thread(guest.process.wait, max(deadline - time.monotonic(), 0.1))
    finally:
        # qemu.qmp re-raises the reader's EOFError once QEMU is gone
        with contextlib.suppress(Exception):
            await client.disconnect()
    return names


def test_system_powerdown_powers_the_guest_off(launch: Callable[[str], RawGuest]) -> None:
    guest = launch("")
    guest.wait_for("a first status line", lambda _s: True)  # acpid runs by then
    started = time.monotonic()
    events = asyncio.run(_power_down(guest, timeout=20))
    assert events[-1] == "SHUTDOWN"
    assert guest.process.returncode == 0
    assert time.monotonic() - started < 20


def test_cached_guest_is_returned_without_apt(
    guest_image: GuestImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_host_tools(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("a cached guest must not run host tools")

    monkeypatch.setattr(debian, "run", no_host_tools)
    started = time.monotonic()
    assert build_guest() == guest_image
    assert time.monotonic() - started < 0.5


def test_stamp_decides_whether_to_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Rebuilt(Exception):
        pass

    def refuse(name: str) -> str:
        raise Rebuilt(name)

    monkeypatch.setattr(debian, "find_tool", refuse)
    for name in (build.KERNEL_FILE, build.INITRD_FILE):
        (tmp_path / name).write_bytes(b"x")
    stamp = {"format": 2, "fingerprint": build._fingerprint(), "kernel_version": "6.1.0-x",
             "vmlinux": False}
    (tmp_path / build.STAMP_FILE).write_text(json.dumps(stamp))
    image = build_guest(tmp_path)
    assert (image.kernel, image.boot_kernel) == (tmp_path / "vmlinuz", tmp_path / "vmlinuz")
    assert image.kernel_version == "6.1.0-x"
    with pytest.raises(Rebuilt):  # forced
        build_guest(tmp_path, force=True)
    (tmp_path / build.STAMP_FILE).write_text(json.dumps({**stamp, "fingerprint": "old"}))
    with pytest.raises(Rebuilt):  # init.sh or the module list changed
        build_guest(tmp_path)
    (tmp_path / build.STAMP_FILE).unlink()
    with pytest.raises(Rebuilt):  # an interrupted build never wrote its stamp
        build_guest(tmp_path)


def test_missing_host_tool_names_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda *_args, **_kwargs: None)
    with pytest.raises(HostError, match="install the Debian package 'kmod'"):
        debian.find_tool("depmod")
    with pytest.raises(HostError, match="'cpio'"):
        debian.run(["cpio", "--version"])
