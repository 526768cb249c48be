"""Probe the installed QEMU for real; check the cache launches it once; check failures.

Every test checks that no child process is left behind (a zombie counts).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pyvirt.errors import MonitorError, ProcessError
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qmp.monitor import CommandFailedError, Monitor
from pyvirt.runtime.capscache import CapsCache
from pyvirt.runtime.probe import probe, probe_argv, probe_sync

pytestmark = pytest.mark.e2e

QEMU = shutil.which("qemu-system-x86_64")
needs_qemu = pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed")
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "caps" / "qemu-7.2-x86_64.json"


@pytest.fixture(autouse=True)
def _no_leftover_children(no_leftover_children: None) -> None:
    """Every test here must reap whatever it started."""


@pytest.fixture(scope="module")
def live_caps() -> QemuCaps:
    if QEMU is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    return probe_sync(QEMU)


@needs_qemu
def test_probe_reports_qemu_7_2_with_failover(live_caps: QemuCaps) -> None:
    assert live_caps.version[:2] == (7, 2)
    assert live_caps.has_device_prop("virtio-net-pci", "failover")
    assert live_caps.has_device_prop("vfio-pci", "failover_pair_id")
    assert live_caps.has_device_prop("e1000e", "failover_pair_id")
    assert live_caps.supports_failover
    assert not live_caps.has_device("igb")
    assert live_caps.resolve_machine("q35") == "pc-q35-7.2"
    assert live_caps.machine_is_q35("q35")


@needs_qemu
def test_recorded_fixture_matches_the_installed_qemu(live_caps: QemuCaps) -> None:
    recorded = QemuCaps.from_json(FIXTURE.read_text(encoding="utf-8"))
    hint = "the installed QEMU changed: re-run tests/data/caps/record.py (both variants)"
    assert recorded.machines == live_caps.machines, hint
    assert recorded.device_props == live_caps.device_props, hint


@needs_qemu
def test_probe_without_kvm(live_caps: QemuCaps) -> None:
    assert QEMU is not None
    tcg = asyncio.run(probe(QEMU, use_kvm=False))
    assert not tcg.kvm_present
    assert (tcg.version, tcg.machines, tcg.device_props) == (
        live_caps.version, live_caps.machines, live_caps.device_props)


@needs_qemu
def test_cache_cold_launches_once_and_warm_never(tmp_path: Path) -> None:
    assert QEMU is not None
    launches: list[str] = []

    def counting_prober(binary: str) -> QemuCaps:
        launches.append(binary)
        return probe_sync(binary)

    cache_dir = tmp_path / "cache"
    cold = CapsCache(cache_dir, prober=counting_prober).lookup(QEMU)
    assert launches == [QEMU]

    warm_cache = CapsCache(cache_dir, prober=counting_prober)
    start = time.perf_counter()
    warm = warm_cache.lookup(QEMU)
    elapsed = time.perf_counter() - start
    assert warm == cold
    assert launches == [QEMU]
    assert elapsed < 0.05  # typically well under 1 ms; generous for a loaded CI host


def test_missing_binary_is_a_clear_process_error() -> None:
    with pytest.raises(ProcessError) as info:
        probe_sync("/usr/bin/qemu-x")
    assert str(info.value) == ("internal error: Failed to probe capabilities for "
                               "/usr/bin/qemu-x: No such file or directory")


def test_binary_that_dies_reports_status_and_stderr(tmp_path: Path) -> None:
    fake = tmp_path / "qemu-dies"
    fake.write_text("#!/bin/sh\necho 'qemu: cannot do that' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(ProcessError) as info:
        probe_sync(str(fake))
    assert str(info.value) == (f"internal error: Failed to probe capabilities for {fake}: "
                               "process exited with status 3: qemu: cannot do that")
    assert info.value.status == 3
    assert info.value.log_tail == "qemu: cannot do that"
    assert info.value.argv[0] == str(fake)


def test_binary_that_hangs_is_killed_after_the_timeout(tmp_path: Path) -> None:
    fake = tmp_path / "qemu-hangs"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    start = time.monotonic()
    with pytest.raises(ProcessError, match=r"no answer within 0\.3s"):
        asyncio.run(probe(str(fake), timeout=0.3))
    assert time.monotonic() - start < 5


@needs_qemu
def test_qemu_rejecting_its_arguments_is_reported(tmp_path: Path) -> None:
    # a wrapper adding an invalid option makes the real QEMU die during startup
    wrapper = tmp_path / "qemu-bad"
    wrapper.write_text(f'#!/bin/sh\nexec {QEMU} -no-such-option "$@"\n')
    wrapper.chmod(0o755)
    with pytest.raises(ProcessError, match=r"process exited with status 1: .*no-such-option"):
        probe_sync(str(wrapper))


@needs_qemu
def test_monitor_against_real_qemu(tmp_path: Path) -> None:
    assert QEMU is not None
    socket = tmp_path / "qmp.sock"
    proc = subprocess.Popen(probe_argv(QEMU, socket, use_kvm=False),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    async def converse() -> None:
        monitor = Monitor()
        await monitor.connect(socket, timeout=10, alive=lambda: proc.poll() is None)
        assert monitor.connected
        assert (await monitor.query_version()).major == 7
        assert await monitor.device_list_properties("igb") is None
        with pytest.raises(CommandFailedError) as info:
            await monitor._execute("no-such-command")
        assert info.value.error_class == "CommandNotFound"
        with pytest.raises(MonitorError, match="non-abstract"):
            await monitor.device_list_properties("pci-device")
        await monitor.quit()
        await asyncio.to_thread(proc.wait, 10)
        with pytest.raises(MonitorError):
            await monitor.query_kvm()
        await monitor.close()  # swallows qemu.qmp's EOFError
        await monitor.close()
        assert not monitor.connected

    try:
        asyncio.run(converse())
    finally:
        proc.kill()
        proc.wait()
