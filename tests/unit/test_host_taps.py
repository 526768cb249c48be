"""Taps of bridge and ethernet NICs (host/taps.py) against a kernel played in memory:
the order of the calls, the records written before anything is made, the fd plan,
libvirt's messages, and that every failure and every stop leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import pyvirt.qmp.monitor
from pyvirt.domain.defaults import mac_factory
from pyvirt.domain.io import domain_from_xml
from pyvirt.domain.model import Domain
from pyvirt.errors import (
    ConfigUnsupportedError,
    HostError,
    NetlinkCallError,
    OperationInvalidError,
    ProcessError,
    PyvirtError,
    SystemCallError,
)
from pyvirt.host.netstate import HostState, TapRecord
from pyvirt.host.taps import TapConnection, TapHost
from pyvirt.host.tuntap import IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TAP, IFF_VNET_HDR
from pyvirt.qemu.aliases import assign_aliases
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.define import prepare_definition
from pyvirt.qemu.tapnic import NicFds, host_mac
from pyvirt.runtime import domain as runtime_domain
from pyvirt.runtime import process
from pyvirt.runtime.domain import Runtime
from pyvirt.store.roots import StateRoot
from pyvirt.types import MacAddress

CAPS = Path(__file__).resolve().parents[1] / "data" / "caps" / "qemu-7.2-x86_64.json"
CAPS_72 = QemuCaps.from_json(CAPS.read_text())


@dataclass
class Link:
    index: int
    mtu: int = 1500
    master: str | None = None
    mac: str | None = None
    up: bool = False
    tap: bool = False


@dataclass
class FakeKernel:
    """Links of one network namespace; ``journal`` gets one line per call that changes
    something; ``fail`` maps a call name to the errno it fails with."""

    links: dict[str, Link] = field(default_factory=dict)
    journal: list[str] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    vhost: bool = True
    opened: list[int] = field(default_factory=list)
    _index: itertools.count[int] = field(default_factory=lambda: itertools.count(10))

    def add(self, name: str, mtu: int = 1500) -> None:
        self.links[name] = Link(next(self._index), mtu)

    def _check(self, call: str, what: str) -> None:
        if call in self.fail:
            raise NetlinkCallError(what, self.fail[call])

    def ifindex(self, name: str) -> int | None:
        return self.links[name].index if name in self.links else None

    def mtu(self, name: str) -> int:
        if name not in self.links:
            raise NetlinkCallError(f"Cannot get interface MTU on '{name}'", errno.ENODEV)
        return self.links[name].mtu

    def _fds(self, n: int) -> list[int]:
        fds = [os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC) for _ in range(n)]
        self.opened += fds
        return fds

    def open_tap(self, name: str, flags: int, queues: int) -> list[int]:
        self.journal.append(f"tunsetiff {name} {flags:#x} x{queues}")
        if "open_tap" in self.fail:
            raise SystemCallError(f"Unable to create tap device {name}: "
                                  f"{os.strerror(self.fail['open_tap'])}")
        if name not in self.links:
            self.add(name)
            self.links[name].tap = True
        return self._fds(queues)

    def create_macvtap(self, name: str, lower: str, mode: str, mac: MacAddress) -> None:
        self.journal.append(f"macvtap {name}@{lower} {mode} {mac}")
        self.add(name)
        self.links[name].mac = str(mac)

    def open_macvtap(self, ifindex: int, vnet_hdr: bool, queues: int) -> list[int]:
        self.journal.append(f"open /dev/tap{ifindex} vnet_hdr={vnet_hdr} x{queues}")
        return self._fds(queues)

    def open_vhost(self, queues: int) -> list[int]:
        if not self.vhost:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        return self._fds(queues)

    def set_mac(self, name: str, mac: MacAddress) -> None:
        self.journal.append(f"mac {name} {mac}")
        self.links[name].mac = str(mac)

    def set_mtu(self, name: str, mtu: int) -> None:
        self.journal.append(f"mtu {name} {mtu}")
        self.links[name].mtu = mtu

    def add_to_bridge(self, bridge: str, name: str) -> None:
        self.journal.append(f"master {name} {bridge}")
        self._check("add_to_bridge", f"Unable to add bridge {bridge} port {name}")
        self.links[name].master = bridge

    def set_up(self, name: str) -> None:
        self.journal.append(f"up {name}")
        self.links[name].up = True

    def delete(self, name: str) -> None:
        self.journal.append(f"del {name}")
        if name not in self.links:
            raise NetlinkCallError("gone", errno.ENODEV)
        del self.links[name]

    @contextlib.contextmanager
    def session(self) -> Iterator[object]:
        yield self

    def open_fds(self) -> list[int]:
        """Descriptors handed out and still open."""
        still = []
        for fd in self.opened:
            try:
                os.fstat(fd)
            except OSError:
                continue
            still.append(fd)
        return still


def guest(nics: str, name: str = "g", kind: str = "kvm") -> Domain:
    counter = itertools.count(1)
    xml = (f"<domain type='{kind}'><name>{name}</name><memory unit='MiB'>256</memory>"
           f"<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>{nics}"
           "</devices></domain>")
    return assign_aliases(prepare_definition(
        domain_from_xml(xml), QemuCaps.from_json(CAPS.read_text()),
        mac_factory(lambda _n: bytes([0xAB, 0, next(counter)]))))


BRIDGE_NIC = ("<interface type='bridge'><mac address='52:54:00:00:00:01'/>"
              "<source bridge='br0'/><model type='virtio'/></interface>")


@pytest.fixture
def kernel() -> FakeKernel:
    k = FakeKernel()
    k.add("br0", mtu=9000)
    return k


@pytest.fixture
def busy() -> set[str]:
    return set()


@pytest.fixture
def warnings() -> list[str]:
    return []


@pytest.fixture
def taps(tmp_path: Path, kernel: FakeKernel, busy: set[str], warnings: list[str]) -> TapHost:
    return TapHost(HostState(tmp_path / "hostdev"), kernel, busy=busy.__contains__,
                   warn=warnings.append)


def test_a_bridge_nic_gets_a_vnet_tap_plugged_the_libvirt_way(
        taps: TapHost, kernel: FakeKernel) -> None:
    conn = taps.connect(guest(BRIDGE_NIC))
    flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
    assert kernel.journal == [f"tunsetiff vnet0 {flags:#x} x1", "mac vnet0 fe:54:00:00:00:01",
                              "mtu vnet0 9000", "master vnet0 br0", "up vnet0"]
    [nic] = conn.domain.devices.interfaces
    assert nic.target_dev == "vnet0"
    assert list(conn.fds) == ["net0"] and len(conn.fds["net0"].tap) == 1
    assert len(conn.fds["net0"].vhost) == 1  # kvm + virtio: vhost-net
    assert taps.state.taps() == [TapRecord("vnet0", "g", "br0", kernel.links["vnet0"].index)]
    assert taps.state.has_records()
    conn.close()
    assert kernel.open_fds() == []


def test_names_count_up_and_skip_names_in_use(taps: TapHost, kernel: FakeKernel) -> None:
    kernel.add("vnet0")
    first = taps.connect(guest(BRIDGE_NIC + BRIDGE_NIC.replace(":01'", ":02'"), "a"))
    assert [n.target_dev for n in first.domain.devices.interfaces] == ["vnet1", "vnet2"]
    taps.release("a")
    second = taps.connect(guest(BRIDGE_NIC, "b"))
    assert second.domain.devices.interfaces[0].target_dev == "vnet3"  # not reused at once
    for c in (first, second):
        c.close()


def test_release_removes_the_taps_and_the_records(taps: TapHost, kernel: FakeKernel) -> None:
    taps.connect(guest(BRIDGE_NIC)).close()
    taps.release("g")
    assert "vnet0" not in kernel.links and taps.state.taps() == []
    assert not taps.state.has_records()
    taps.release("g")  # idempotent


def test_release_never_removes_a_namesake(taps: TapHost, kernel: FakeKernel) -> None:
    taps.connect(guest(BRIDGE_NIC)).close()
    del kernel.links["vnet0"]  # QEMU died: the kernel removed it
    kernel.add("vnet0")  # someone else's since
    taps.release("g")
    assert "vnet0" in kernel.links and taps.state.taps() == []


def test_reconcile_undoes_dead_guests_only(taps: TapHost, kernel: FakeKernel,
                                           busy: set[str]) -> None:
    taps.connect(guest(BRIDGE_NIC, "dead")).close()
    taps.connect(guest(BRIDGE_NIC, "alive")).close()
    busy.add("alive")
    taps.connect(guest("<interface type='user'/>", "other"))
    assert [t.domain for t in taps.state.taps()] == ["alive"]
    assert "vnet0" not in kernel.links and "vnet1" in kernel.links


def test_a_missing_bridge_fails_in_libvirts_words_before_anything_is_made(
        taps: TapHost, kernel: FakeKernel) -> None:
    with pytest.raises(NetlinkCallError) as err:
        taps.connect(guest(BRIDGE_NIC.replace("br0", "br9")))
    assert str(err.value) == "Cannot get interface MTU on 'br9': No such device"
    assert kernel.journal == [] and taps.state.taps() == []


def test_a_failed_plug_leaves_nothing(taps: TapHost, kernel: FakeKernel) -> None:
    kernel.fail["add_to_bridge"] = errno.EPERM
    two = BRIDGE_NIC.replace(":01'", ":02'") + BRIDGE_NIC
    kernel.fail.pop("add_to_bridge")
    kernel.links["br1"] = Link(99)
    bad = two.replace("br0", "br1", 1)

    def refuse(bridge: str, name: str) -> None:
        raise NetlinkCallError(f"Unable to add bridge {bridge} port {name}", errno.EPERM)

    kernel.add_to_bridge = lambda b, n: refuse(b, n) if b == "br0" else None  # type: ignore
    with pytest.raises(PyvirtError, match="Unable to add bridge br0 port vnet1: Operation "
                                          "not permitted"):
        taps.connect(guest(bad))
    assert set(kernel.links) == {"br0", "br1"}  # vnet0 (on br1) removed again
    assert taps.state.taps() == [] and kernel.open_fds() == []


def test_a_failed_tunsetiff_leaves_no_record(taps: TapHost, kernel: FakeKernel) -> None:
    kernel.fail["open_tap"] = errno.EBUSY
    with pytest.raises(SystemCallError, match="Unable to create tap device vnet0: Device or "
                                              "resource busy"):
        taps.connect(guest(BRIDGE_NIC))
    assert taps.state.taps() == []


def test_user_names_too_long_or_taken(taps: TapHost, kernel: FakeKernel) -> None:
    long = BRIDGE_NIC.replace("<model", "<target dev='a-very-long-tapname'/><model")
    with pytest.raises(SystemCallError) as err:
        taps.connect(guest(long))
    assert str(err.value) == ("Network interface name 'a-very-long-tapname' is too long: "
                              "Numerical result out of range")
    kernel.add("mytap0")
    with pytest.raises(OperationInvalidError) as taken:
        taps.connect(guest(BRIDGE_NIC.replace("<model", "<target dev='mytap0'/><model")))
    assert str(taken.value) == ("Requested operation is not valid: The mytap0 interface "
                                "already exists")
    assert taps.state.taps() == []


def test_managed_ethernet_tap_mac_mtu_no_bridge(taps: TapHost, kernel: FakeKernel) -> None:
    nic = ("<interface type='ethernet'><mac address='fe:00:00:00:00:07'/>"
           "<target dev='mytap0'/><model type='virtio'/><mtu size='1400'/></interface>")
    conn = taps.connect(guest(nic, kind="qemu"))
    assert kernel.journal == [f"tunsetiff mytap0 {IFF_TAP | IFF_NO_PI | IFF_VNET_HDR:#x} x1",
                              "mac mytap0 fa:00:00:00:00:07", "up mytap0", "mtu mytap0 1400"]
    assert conn.fds["net0"].vhost == ()  # TCG: never vhost
    conn.close()
    taps.release("g")
    assert "mytap0" not in kernel.links


def test_unmanaged_ethernet_is_opened_not_touched(taps: TapHost, kernel: FakeKernel) -> None:
    nic = ("<interface type='ethernet'><mac address='52:54:00:00:00:09'/>"
           "<target dev='vnet9' managed='no'/><model type='virtio'/></interface>")
    with pytest.raises(HostError, match=r"vnet9.* doesn.t exist"):
        taps.connect(guest(nic))
    kernel.add("vnet9")
    conn = taps.connect(guest(nic))
    assert kernel.journal[-1] == f"tunsetiff vnet9 {IFF_TAP | IFF_NO_PI | IFF_VNET_HDR:#x} x1"
    assert conn.domain.devices.interfaces[0].target_dev == "vnet9"
    assert taps.state.taps() == []  # not ours: nothing to remove
    conn.close()
    taps.release("g")
    assert "vnet9" in kernel.links


def test_multiqueue_and_vhost_fallback(taps: TapHost, kernel: FakeKernel,
                                       warnings: list[str]) -> None:
    kernel.vhost = False
    nic = BRIDGE_NIC.replace("<model type='virtio'/>",
                             "<model type='virtio'/><driver queues='2'/>")
    conn = taps.connect(guest(nic))
    flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE
    assert kernel.journal[0] == f"tunsetiff vnet0 {flags:#x} x2"
    assert len(conn.fds["net0"].tap) == 2 and conn.fds["net0"].vhost == ()
    assert warnings == ["Unable to open vhost-net. Opened so far 0, requested 2"]
    conn.close()
    forced = BRIDGE_NIC.replace("<model type='virtio'/>",
                                "<model type='virtio'/><driver name='vhost'/>")
    with pytest.raises(ConfigUnsupportedError) as err:
        taps.connect(guest(forced, "h"))
    assert str(err.value) == ("unsupported configuration: vhost-net was requested for an "
                              "interface, but is unavailable")
    # g is not running (never spawned): the second connect reconciled its tap away
    assert taps.state.taps() == [] and kernel.open_fds() == []


def test_host_mac_rule() -> None:
    assert host_mac(MacAddress("52:54:00:aa:bb:cc")) == MacAddress("fe:54:00:aa:bb:cc")
    assert host_mac(MacAddress("fe:54:00:aa:bb:cc")) == MacAddress("fa:54:00:aa:bb:cc")


def test_fd_plan_shape() -> None:
    assert NicFds((3,)).vhost == ()


# --- through the runtime: fds handed to QEMU, closed here, every stop path ---------------

class TapHooks:
    """The runtime's host hooks with taps only (no SR-IOV)."""

    def __init__(self, taps: TapHost) -> None:
        self.taps = taps

    def prepare(self, live: Domain) -> Domain:
        return live

    def connect_nics(self, live: Domain) -> TapConnection:
        return self.taps.connect(live)

    def release(self, live: Domain) -> None:
        self.taps.release(live.name)

    def holds_nics(self, name: str) -> bool:
        return any(t.domain == name for t in self.taps.state.taps())

    def release_nics(self, name: str) -> None:
        self.taps.release(name)


@dataclass
class Spawned:
    argv: tuple[str, ...]
    pass_fds: tuple[int, ...]
    open_at_spawn: list[int]


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch, kernel: FakeKernel) -> Iterator[list[Spawned]]:
    """Each "QEMU" is a detached sleep; records argv and the fds it was handed."""
    from tests.unit.test_host_runtime import StubMonitor

    launched: list[Spawned] = []
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(argv: tuple[str, ...], log_path: Path, *args: Any,
              pass_fds: tuple[int, ...] = (), **kwargs: Any) -> process.ProcessId:
        launched.append(Spawned(argv, pass_fds, kernel.open_fds()))
        if "fail-spawn" in kernel.fail:
            raise ProcessError("cannot execute qemu: No such file or directory")
        proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
        procs.append(proc)
        ident = process.identify(proc.pid)
        assert ident is not None
        return ident

    monkeypatch.setattr(process, "spawn", spawn)
    monkeypatch.setattr(pyvirt.qmp.monitor, "Monitor", StubMonitor)
    monkeypatch.setattr(runtime_domain, "Monitor", StubMonitor)
    yield launched
    for proc in procs:
        proc.kill()
        proc.wait()


def test_start_hands_the_fds_to_qemu_and_destroy_removes_the_tap(
        tmp_path: Path, kernel: FakeKernel, spawned: list[Spawned]) -> None:
    root = StateRoot(tmp_path / "etc", tmp_path / "run", tmp_path / "log", tmp_path / "cache")
    taps = TapHost(HostState.of(root), kernel, busy=lambda _n: False, warn=lambda _m: None)
    runtime = Runtime(root, host=TapHooks(taps))
    live = asyncio.run(runtime.start(guest(BRIDGE_NIC), CAPS_72))
    [qemu] = spawned
    [netdev] = [a for a in qemu.argv if a.startswith('{"type":"tap"')]
    tap_fd, vhost_fd = qemu.pass_fds
    assert netdev == (f'{{"type":"tap","fd":"{tap_fd}","vhost":true,"vhostfd":"{vhost_fd}",'
                      '"id":"hostnet0"}')
    assert sorted(qemu.open_at_spawn) == sorted(qemu.pass_fds)
    assert kernel.open_fds() == []  # pyvirt's copies closed once QEMU runs
    assert live.devices.interfaces[0].target_dev == "vnet0"
    assert "<target dev='vnet0'/>" in runtime.run_dir("g").live_xml.read_text()
    assert HostState.of(root).has_records()  # so the quick paths take the full one
    asyncio.run(Runtime(root, host=TapHooks(taps)).destroy("g"))
    assert "vnet0" not in kernel.links and not HostState.of(root).has_records()


def test_a_failed_start_leaves_no_tap_no_record_no_fd(
        tmp_path: Path, kernel: FakeKernel, spawned: list[Spawned]) -> None:
    root = StateRoot(tmp_path / "etc", tmp_path / "run", tmp_path / "log", tmp_path / "cache")
    taps = TapHost(HostState.of(root), kernel, busy=lambda _n: False, warn=lambda _m: None)
    kernel.fail["fail-spawn"] = 0
    with pytest.raises(ProcessError):
        asyncio.run(Runtime(root, host=TapHooks(taps)).start(guest(BRIDGE_NIC), CAPS_72))
    assert set(kernel.links) == {"br0"} and not HostState.of(root).has_records()
    assert kernel.open_fds() == []


# --- type='direct': a macvtap, a link of its own that outlives QEMU ------------------------

DIRECT_NIC = ("<interface type='direct'><mac address='52:54:00:00:00:05'/>"
              "<source dev='eth0' mode='bridge'/><model type='virtio'/></interface>")


def test_a_direct_nic_gets_a_macvtap_with_the_guest_mac(taps: TapHost,
                                                        kernel: FakeKernel) -> None:
    kernel.add("eth0")
    conn = taps.connect(guest(DIRECT_NIC))
    index = kernel.links["macvtap0"].index
    assert kernel.journal == ["macvtap macvtap0@eth0 bridge 52:54:00:00:00:05", "up eth0",
                              "up macvtap0", f"open /dev/tap{index} vnet_hdr=True x1"]
    assert conn.domain.devices.interfaces[0].target_dev == "macvtap0"
    assert taps.state.taps() == [TapRecord("macvtap0", "g", None, index)]
    conn.close()
    assert "macvtap0" in kernel.links  # closing the fds does not remove a macvtap
    taps.release("g")
    assert "macvtap0" not in kernel.links and taps.state.taps() == []


def test_a_dead_guests_macvtap_is_removed_by_the_next_start(taps: TapHost,
                                                            kernel: FakeKernel) -> None:
    kernel.add("eth0")
    taps.connect(guest(DIRECT_NIC, "dead")).close()  # its QEMU was killed: never released
    conn = taps.connect(guest(DIRECT_NIC, "next"))
    assert "macvtap0" not in kernel.links and "macvtap1" in kernel.links
    assert [t.domain for t in taps.state.taps()] == ["next"]
    conn.close()


def test_direct_refusals(taps: TapHost, kernel: FakeKernel) -> None:
    with pytest.raises(NetlinkCallError) as err:
        taps.connect(guest(DIRECT_NIC))
    assert str(err.value) == ("error creating macvtap interface macvtap0@eth0 "
                              "(52:54:00:00:00:05): No such device")
    kernel.add("eth0")
    with pytest.raises(ConfigUnsupportedError, match="passthrough"):
        taps.connect(guest(DIRECT_NIC.replace("bridge", "passthrough")))
    assert taps.state.taps() == [] and set(kernel.links) == {"br0", "eth0"}


def test_a_start_killed_before_qemu_ran_leaves_no_macvtap_after_the_next_look(
        tmp_path: Path, kernel: FakeKernel) -> None:
    root = StateRoot(tmp_path / "etc", tmp_path / "run", tmp_path / "log", tmp_path / "cache")
    taps = TapHost(HostState.of(root), kernel, busy=lambda _n: False, warn=lambda _m: None)
    kernel.add("eth0")
    taps.connect(guest(DIRECT_NIC)).close()  # ...and the pyvirt starting it died here
    assert "macvtap0" in kernel.links
    runtime = Runtime(root, host=TapHooks(taps))
    with runtime.lock("g", "start"):  # another pyvirt is still starting it: hands off
        asyncio.run(Runtime(root, host=TapHooks(taps)).observe("g"))
        assert "macvtap0" in kernel.links
    asyncio.run(runtime.observe("g"))  # e.g. domstate
    assert "macvtap0" not in kernel.links and not HostState.of(root).has_records()
