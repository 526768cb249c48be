"""QemuCaps (fixtures, JSON, machine and failover queries), CapsCache, QMP reply parsing.

No QEMU is launched here: the cache gets a fake prober that counts its calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyvirt.errors import MonitorError, ProcessError
from pyvirt.qemu.caps import PROBED_DEVICES, MachineInfo, QemuCaps
from pyvirt.qmp import models
from pyvirt.qmp.monitor import Monitor
from pyvirt.runtime.capscache import CapsCache

CAPS_DIR = Path(__file__).resolve().parents[1] / "data" / "caps"
FIXTURE = CAPS_DIR / "qemu-7.2-x86_64.json"
NOFAILOVER = CAPS_DIR / "qemu-7.2-x86_64-nofailover.json"


def load(path: Path) -> QemuCaps:
    return QemuCaps.from_json(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def caps() -> QemuCaps:
    return load(FIXTURE)


# --- fixtures and JSON -----------------------------------------------------------------


@pytest.mark.parametrize("path", [FIXTURE, NOFAILOVER], ids=lambda p: p.name)
def test_fixture_round_trips_byte_for_byte(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    loaded = QemuCaps.from_json(text)
    assert loaded.to_json() == text
    assert QemuCaps.from_json(loaded.to_json()) == loaded


def test_fixture_content(caps: QemuCaps) -> None:
    assert caps.version[:2] == (7, 2)
    assert caps.binary == "/usr/bin/qemu-system-x86_64"
    assert not caps.has_device("igb")  # igb arrived in QEMU 8.0
    assert set(caps.device_props) == set(PROBED_DEVICES) - {"igb"}
    assert caps.has_device_prop("virtio-net-pci", "failover")
    assert caps.has_device_prop("e1000e", "failover_pair_id")
    assert not caps.has_device_prop("e1000e", "failover")
    assert not caps.has_device_prop("igb", "netdev")


def test_nofailover_fixture_differs_only_in_failover_properties(caps: QemuCaps) -> None:
    stripped = load(NOFAILOVER)
    assert (stripped.version, stripped.machines) == (caps.version, caps.machines)
    for name, props in caps.device_props.items():
        removed = {"failover_pair_id", "failover"} if name == "virtio-net-pci" else {
            "failover_pair_id"}
        assert stripped.device_props[name] == props - removed


def test_supports_failover(caps: QemuCaps) -> None:
    assert caps.supports_failover
    assert not load(NOFAILOVER).supports_failover
    only_standby = dataclasses.replace(caps, device_props={
        "virtio-net-pci": caps.device_props["virtio-net-pci"]})
    assert not only_standby.supports_failover


def test_caps_are_normalised_immutable_and_hashable(caps: QemuCaps) -> None:
    shuffled = dataclasses.replace(
        caps, machines=tuple(reversed(caps.machines)),
        device_props={k: frozenset(sorted(v, reverse=True))
                      for k, v in sorted(caps.device_props.items(), reverse=True)})
    assert shuffled == caps
    assert shuffled.to_json() == caps.to_json()
    assert hash(shuffled) == hash(caps)
    with pytest.raises(TypeError):
        caps.device_props["igb"] = frozenset()  # type: ignore[index]


@pytest.mark.parametrize("text", [
    "", "not json", "[]", "{}",
    '{"format": 99}',
    '{"format": 1, "binary": "q", "version": [7, 2], "kvm_present": false, '
    '"machines": [], "device_props": {}}',
    '{"format": 1, "binary": "q", "version": [7, 2, true], "kvm_present": false, '
    '"machines": [], "device_props": {}}',
    '{"format": 1, "binary": "q", "version": [7, 2, 0], "kvm_present": "no", '
    '"machines": [], "device_props": {}}',
    '{"format": 1, "binary": "q", "version": [7, 2, 0], "kvm_present": false, '
    '"machines": [{"name": 5}], "device_props": {}}',
    '{"format": 1, "binary": "q", "version": [7, 2, 0], "kvm_present": false, '
    '"machines": [], "device_props": {"e1000": "mac"}}',
])
def test_from_json_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError):
        QemuCaps.from_json(text)


# --- machines --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("q35", "pc-q35-7.2"),
    ("pc", "pc-i440fx-7.2"),
    ("pc-q35-7.2", "pc-q35-7.2"),
    ("pc-q35-5.2", "pc-q35-5.2"),
    ("pc-i440fx-2.12", "pc-i440fx-2.12"),
    ("pc-q35-99.0", None),
    ("virt", None),
    ("", None),
])
def test_resolve_machine(caps: QemuCaps, name: str, expected: str | None) -> None:
    assert caps.resolve_machine(name) == expected


def test_default_machine_is_i440fx(caps: QemuCaps) -> None:
    assert [m.name for m in caps.machines if m.is_default] == ["pc-i440fx-7.2"]


@pytest.mark.parametrize(("name", "q35"), [
    ("q35", True), ("pc-q35-7.2", True), ("pc-q35-2.11", True),
    ("pc", False), ("pc-i440fx-7.2", False), ("isapc", False), ("microvm", False),
])
def test_machine_is_q35(caps: QemuCaps, name: str, q35: bool) -> None:
    assert caps.machine_is_q35(name) is q35
    assert caps.is_pcie_machine(name) is q35


# --- cache -----------------------------------------------------------------------------


class FakeProber:
    """Stands in for probe_sync: answers the fixture and counts the calls."""

    def __init__(self, caps: QemuCaps) -> None:
        self.caps = caps
        self.calls: list[str] = []

    def __call__(self, binary: str) -> QemuCaps:
        self.calls.append(binary)
        return dataclasses.replace(self.caps, binary=binary)


@pytest.fixture
def binary(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "qemu-system-x86_64"
    path.parent.mkdir()
    path.write_bytes(b"\x7fELF not really")
    path.chmod(0o755)
    return path


@pytest.fixture
def prober(caps: QemuCaps) -> FakeProber:
    return FakeProber(caps)


def make_cache(tmp_path: Path, prober: Callable[[str], QemuCaps]) -> CapsCache:
    return CapsCache(tmp_path / "cache" / "qemu", prober=prober)


def test_cold_probes_once_and_warm_never(tmp_path: Path, binary: Path,
                                         prober: FakeProber) -> None:
    cache = make_cache(tmp_path, prober)
    first = cache.lookup(str(binary))
    assert prober.calls == [str(binary)]
    assert cache.probe_count == 1
    # a second pyvirt command: a new cache object over the same directory
    again = make_cache(tmp_path, prober)
    assert again.lookup(str(binary)) == first
    assert again.lookup(str(binary)) == first
    assert prober.calls == [str(binary)]
    assert again.probe_count == 0


def test_warm_lookup_is_fast(tmp_path: Path, binary: Path, prober: FakeProber) -> None:
    cache = make_cache(tmp_path, prober)
    cache.lookup(str(binary))
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        cache.lookup(str(binary))
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.005
    assert cache.probe_count == 1


def test_cache_file_modes_and_no_temp_left(tmp_path: Path, binary: Path,
                                           prober: FakeProber) -> None:
    cache = make_cache(tmp_path, prober)
    cache.lookup(str(binary))
    entry = cache.entry_path(str(binary))
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.cache_dir.stat().st_mode) == 0o700
    assert list(cache.cache_dir.iterdir()) == [entry]
    assert json.loads(entry.read_text())["key"]["path"] == str(binary)


@pytest.mark.parametrize("change", ["size", "mtime"])
def test_changed_binary_is_reprobed(tmp_path: Path, binary: Path, prober: FakeProber,
                                    change: str) -> None:
    cache = make_cache(tmp_path, prober)
    cache.lookup(str(binary))
    if change == "size":
        binary.write_bytes(binary.read_bytes() + b"!")
    else:
        st = binary.stat()
        os.utime(binary, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    cache.lookup(str(binary))
    assert len(prober.calls) == 2
    cache.lookup(str(binary))
    assert len(prober.calls) == 2
    assert len(list(cache.cache_dir.iterdir())) == 1  # the stale entry was replaced


@pytest.mark.parametrize("content", [
    b"", b"{", b"\xff\xfe garbage", b"[]", b'{"key": 1}', b'{"key": {}, "caps": {}}',
])
def test_corrupt_entry_is_reprobed(tmp_path: Path, binary: Path, prober: FakeProber,
                                   content: bytes) -> None:
    cache = make_cache(tmp_path, prober)
    cache.lookup(str(binary))
    cache.entry_path(str(binary)).write_bytes(content)
    assert cache.lookup(str(binary)) == prober(str(binary))
    assert len(prober.calls) == 3  # first lookup, re-probe, and the call just above
    make_cache(tmp_path, prober).lookup(str(binary))  # the rewrite is valid again
    assert len(prober.calls) == 3


def test_corrupt_caps_with_valid_key_is_reprobed(tmp_path: Path, binary: Path,
                                                 prober: FakeProber) -> None:
    cache = make_cache(tmp_path, prober)
    cache.lookup(str(binary))
    entry = cache.entry_path(str(binary))
    document = json.loads(entry.read_text())
    document["caps"]["version"] = "7.2"
    entry.write_text(json.dumps(document))
    cache.lookup(str(binary))
    assert len(prober.calls) == 2


def test_unwritable_cache_still_answers(tmp_path: Path, binary: Path,
                                        prober: FakeProber) -> None:
    cache = make_cache(tmp_path, prober)
    cache.entry_path(str(binary)).mkdir(parents=True)  # neither readable nor replaceable
    assert cache.lookup(str(binary)).binary == str(binary)
    assert cache.lookup(str(binary)).binary == str(binary)
    assert len(prober.calls) == 2
    assert [p.name for p in cache.cache_dir.iterdir()] == [cache.entry_path(str(binary)).name]


def test_symlink_shares_the_entry_but_keeps_the_given_name(tmp_path: Path, binary: Path,
                                                           prober: FakeProber) -> None:
    link = tmp_path / "qemu-kvm"
    link.symlink_to(binary)
    cache = make_cache(tmp_path, prober)
    assert cache.lookup(str(binary)).binary == str(binary)
    assert cache.lookup(str(link)).binary == str(link)
    assert prober.calls == [str(binary)]


def test_missing_binary_raises_without_probing(tmp_path: Path, prober: FakeProber) -> None:
    cache = make_cache(tmp_path, prober)
    with pytest.raises(ProcessError) as info:
        cache.lookup("/usr/bin/qemu-x")
    assert str(info.value) == ("internal error: Failed to probe capabilities for "
                               "/usr/bin/qemu-x: No such file or directory")
    assert prober.calls == []


def test_failed_probe_writes_nothing(tmp_path: Path, binary: Path) -> None:
    def failing(name: str) -> QemuCaps:
        raise ProcessError(f"Failed to probe capabilities for {name}: boom")

    cache = make_cache(tmp_path, failing)
    with pytest.raises(ProcessError, match="boom"):
        cache.lookup(str(binary))
    assert not cache.cache_dir.exists() or not any(cache.cache_dir.iterdir())


# --- QMP reply parsing and connection (no QEMU) ----------------------------------------


def test_parse_machines_sorts_and_reads_optional_members() -> None:
    reply = [{"name": "pc-q35-7.2", "alias": "q35", "cpu-max": 288},
             {"name": "none"},
             {"name": "pc-i440fx-7.2", "alias": "pc", "is-default": True}]
    assert models.parse_machines(reply) == (
        MachineInfo("none"), MachineInfo("pc-i440fx-7.2", "pc", True),
        MachineInfo("pc-q35-7.2", "q35"))


@pytest.mark.parametrize(("parser", "reply"), [
    (models.parse_version, {"qemu": {"major": 7, "minor": 2}}),
    (models.parse_version, {"qemu": {"major": True, "minor": 2, "micro": 0}}),
    (models.parse_version, []),
    (models.parse_machines, {"name": "pc"}),
    (models.parse_machines, [{"alias": "pc"}]),
    (models.parse_kvm, {"present": 1, "enabled": False}),
    (models.parse_property_names, [{"type": "str"}]),
])
def test_unexpected_replies_are_monitor_errors(parser: Callable[[object], object],
                                              reply: object) -> None:
    with pytest.raises(MonitorError, match="unexpected QMP reply"):
        parser(reply)


def test_connect_gives_up_at_once_when_the_process_is_dead(tmp_path: Path) -> None:
    async def attempt() -> None:
        await Monitor().connect(tmp_path / "qmp.sock", timeout=30, alive=lambda: False)

    start = time.monotonic()
    with pytest.raises(MonitorError, match="QEMU exited before its monitor"):
        asyncio.run(attempt())
    assert time.monotonic() - start < 1


def test_connect_times_out(tmp_path: Path) -> None:
    async def attempt() -> None:
        await Monitor().connect(tmp_path / "qmp.sock", timeout=0.1)

    with pytest.raises(MonitorError, match=r"timed out after 0.1s .*socket not created yet"):
        asyncio.run(attempt())


def test_execute_without_connection_is_a_monitor_error() -> None:
    async def attempt() -> None:
        monitor = Monitor()
        await monitor.close()  # closing an unconnected monitor is a no-op
        await monitor.query_version()

    with pytest.raises(MonitorError, match="query-version"):
        asyncio.run(attempt())
