"""The runtime's start, destroy, crash and migration paths drive the SR-IOV host.

QEMU is replaced by a ``sleep`` (spawned detached like QEMU) and its monitor by a stub,
so these run without QEMU while the runtime's own code decides when host resources are
prepared and released.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import pyvirt.qmp.monitor
from pyvirt.host.netlink import VfNetConfig
from pyvirt.host.sriov import SriovHost
from pyvirt.qemu.caps import QemuCaps
from pyvirt.runtime import domain as runtime_domain
from pyvirt.runtime import process
from pyvirt.runtime.domain import Runtime
from pyvirt.runtime.state import Reason
from pyvirt.service import hosthooks as hooks
from pyvirt.store.roots import StateRoot
from tests.unit.test_host_fakes import (
    CAPS,
    PARTNER_MAC,
    PF_NETDEV,
    VF1,
    VF1_ORIGINAL,
    VFS,
    define,
    hostdev_iface,
    make_host,
    pool_iface,
)

CAPS_72 = QemuCaps.from_json(CAPS.read_text())


class StubMonitor:
    async def __aenter__(self) -> StubMonitor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def connect(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def cont(self) -> None:
        return None

    async def query_status(self) -> SimpleNamespace:
        return SimpleNamespace(status="running", running=True)


@pytest.fixture
def fake_qemu(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, ...]]]:
    """Every argv the runtime launched; each "QEMU" is a detached sleep (killed at the
    end of the test)."""
    launched: list[tuple[str, ...]] = []
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(argv: tuple[str, ...], log_path: Path, *args: Any, **kwargs: Any
              ) -> process.ProcessId:
        launched.append(argv)
        proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
        procs.append(proc)
        ident = process.identify(proc.pid)
        assert ident is not None
        return ident

    monkeypatch.setattr(process, "spawn", spawn)
    monkeypatch.setattr(runtime_domain, "Monitor", StubMonitor)
    monkeypatch.setattr(pyvirt.qmp.monitor, "Monitor", StubMonitor)  # launch.bring_up's
    yield launched
    for proc in procs:
        proc.kill()
        proc.wait()


def vfio_lines(argv: tuple[str, ...]) -> list[str]:
    return [a for a in argv if a.startswith('{"driver":"vfio-pci"')]


def test_start_and_destroy_through_the_runtime(tmp_path: Path,
                                               fake_qemu: list[tuple[str, ...]]) -> None:
    host = make_host(tmp_path)
    runtime = Runtime(host.root, host=host.sriov())
    live = asyncio.run(runtime.start(define("guest", hostdev_iface()), CAPS_72))
    assert host.vf(1).mac == PARTNER_MAC
    assert vfio_lines(fake_qemu[0]) == [
        '{"driver":"vfio-pci","host":"0000:03:10.2","id":"hostdev0",'
        '"failover_pair_id":"ua-backup0","bus":"pci.3","addr":"0x0"}']
    assert runtime.live_domain("guest") == live
    host.journal.clear()
    asyncio.run(Runtime(host.root, host=host.sriov()).destroy("guest"))  # a new command
    assert host.journal[:2] == [f"ip link set {PF_NETDEV} vf 1 mac aa:bb:cc:00:00:01",
                                f"ip link set {PF_NETDEV} vf 1 vlan 7"]
    assert host.journal[-1] == "probe 0000:03:10.2 -> ixgbevf"
    assert host.vf(1) == VF1_ORIGINAL


def test_pool_member_starts_as_vfio_with_failover_pair(tmp_path: Path,
                                                       fake_qemu: list[tuple[str, ...]]
                                                       ) -> None:
    host = make_host(tmp_path)
    store = host.sriov().networks
    store.define_xml("<network><name>sriov-pool</name><forward mode='hostdev' "
                     "managed='yes'><pf dev='enp3s0f0'/></forward></network>")
    store.start("sriov-pool")
    runtime = Runtime(host.root, host=host.sriov())
    live = asyncio.run(runtime.start(define("guest", pool_iface()), CAPS_72))
    assert live.devices.interfaces[1].vf == VFS[0]
    assert vfio_lines(fake_qemu[0]) == [
        '{"driver":"vfio-pci","host":"0000:03:10.0","id":"net0",'
        '"failover_pair_id":"ua-backup0","bus":"pci.2","addr":"0x0"}']
    assert host.vf(0).mac == PARTNER_MAC
    asyncio.run(runtime.destroy("guest"))
    assert host.kernel.driver_of(VFS[0]) == "ixgbevf"


def test_a_guest_that_died_unobserved_gives_its_vf_back(tmp_path: Path,
                                                        fake_qemu: list[tuple[str, ...]]
                                                        ) -> None:
    host = make_host(tmp_path)
    runtime = Runtime(host.root, host=host.sriov())
    asyncio.run(runtime.start(define("guest", hostdev_iface()), CAPS_72))
    status = runtime.run_dir("guest").read_status()
    assert status is not None
    process.kill(status.process)  # QEMU crashed while no pyvirt ran
    process.reap(status.process)
    observed = asyncio.run(Runtime(host.root, host=host.sriov()).observe("guest"))
    assert observed.info.reason is Reason.CRASHED
    assert host.vf(1) == VF1_ORIGINAL
    assert host.kernel.driver_of(VF1) == "ixgbevf"


def test_migration_prepare_and_source_cleanup(tmp_path: Path,
                                              fake_qemu: list[tuple[str, ...]]) -> None:
    source, dest = make_host(tmp_path / "src"), make_host(tmp_path / "dst")
    stored = define("guest", hostdev_iface(extra="<vlan><tag id='42'/></vlan>"))
    src_rt = Runtime(source.root, host=source.sriov())
    asyncio.run(src_rt.start(stored, CAPS_72))
    dest.journal.clear()
    asyncio.run(Runtime(dest.root, host=dest.sriov()).start(stored, CAPS_72,
                                                           incoming="defer"))
    assert [j for j in dest.journal if not j.startswith("ip link show")] == [
        "override 0000:03:10.2 vfio-pci", "unbind 0000:03:10.2 from ixgbevf",
        "probe 0000:03:10.2 -> vfio-pci",
        f"save {PF_NETDEV} vf 1 mac aa:bb:cc:00:00:01 vlan 7",
        f"ip link set {PF_NETDEV} vf 1 mac {PARTNER_MAC}",
        f"ip link set {PF_NETDEV} vf 1 vlan 42"]
    status = src_rt.run_dir("guest").read_status()
    assert status is not None
    source.journal.clear()
    src_rt.stopped("guest", Reason.MIGRATED, status.process)  # confirm on the source
    assert [j for j in source.journal if not j.startswith("ip link show")] == [
        f"ip link set {PF_NETDEV} vf 1 mac aa:bb:cc:00:00:01",
        f"ip link set {PF_NETDEV} vf 1 vlan 7", f"drop saved {PF_NETDEV} vf 1",
        "unbind 0000:03:10.2 from vfio-pci", "override 0000:03:10.2 (clear)",
        "probe 0000:03:10.2 -> ixgbevf"]
    assert dest.vf(1) == VfNetConfig(PARTNER_MAC, 42)


def test_the_real_hooks_leave_ordinary_guests_alone(tmp_path: Path) -> None:
    root = StateRoot(tmp_path / "etc", tmp_path / "run", tmp_path / "log", tmp_path / "cache")
    real = hooks.host_hooks_for(root)
    assert isinstance(real, hooks.HostResources) and isinstance(real.sriov, SriovHost)
    live = define("plain", "<interface type='user'><model type='virtio'/></interface>")
    assert real.prepare(live) is live
    assert real.connect_nics(live).domain is live
    real.release(live)
    assert not (tmp_path / "run").exists()


def test_busy_means_running_or_locked(tmp_path: Path) -> None:
    root = StateRoot(tmp_path / "etc", tmp_path / "run", tmp_path / "log", tmp_path / "cache")
    busy = hooks.domain_busy(root)
    assert not busy("guest")
    with Runtime(root).lock("guest", "start"):
        assert busy("guest")
    assert not busy("guest")
