"""Launch plans (runtime/launch.py): a plain ``start`` remembers what it derived from the
definition, and the next ``start`` spawns QEMU from it only while every part of its key
still holds and nothing in the run directory or on the host needs reconciling.

No QEMU: the emulator is an executable file of our own with a recorded capability entry
(probed by a stub), QEMU is a detached ``sleep`` and its monitor a stub that notes what
it was asked.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import pyvirt.qmp.monitor
from pyvirt.domain.defaults import mac_factory
from pyvirt.domain.io import domain_from_xml
from pyvirt.domain.model import Domain, LinkState
from pyvirt.errors import ProcessError, PyvirtError
from pyvirt.host.netstate import Claim, HostState
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.define import prepare_definition
from pyvirt.runtime import domain as runtime_domain
from pyvirt.runtime import launch, process
from pyvirt.runtime.capscache import CapsCache
from pyvirt.runtime.domain import Runtime
from pyvirt.runtime.launch import (
    Launch,
    LaunchPlan,
    load_plan,
    plan_key,
    plan_path,
    quick_start,
    save_plan,
)
from pyvirt.runtime.status import RunDir, RuntimeStatus
from pyvirt.service import lifecycle
from pyvirt.service.config import config_path, load_config
from pyvirt.service.context import Context
from pyvirt.service.domains import DomainService
from pyvirt.store import locks
from pyvirt.store.locks import DomainLock, LockTimeoutError
from pyvirt.store.roots import StateRoot
from pyvirt.types import PciAddress
from tests.unit.test_host_fakes import (
    CAPS,
    define,
    hostdev_iface,
    make_host,
    plain_hostdev,
    pool_iface,
)

CAPS_72 = QemuCaps.from_json(CAPS.read_text())
LINK_DOWN = "<link state='down'/>"


def domain_xml(name: str, emulator: Path, memory_mib: int = 64, link: str = "") -> str:
    return (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>{memory_mib}</memory>"
            "<vcpu>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type></os>"
            f"<devices><emulator>{emulator}</emulator>"
            f"<interface type='user'><model type='virtio'/>{link}</interface>"
            "<interface type='user'><model type='e1000e'/></interface>"
            "<memballoon model='none'/></devices></domain>")


# --- fakes ------------------------------------------------------------------------------


@dataclass
class Calls:
    """What the fake QEMU and its stub monitor were asked."""

    spawned: list[tuple[str, ...]] = field(default_factory=list)
    set_link: list[tuple[str, bool]] = field(default_factory=list)
    cont: int = 0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    fail_connect: bool = False
    qemu_status: str = "prelaunch"  # what the stub monitor reports: -S until ``cont``


class StubMonitor:
    calls: Calls  # set by the fixture

    async def __aenter__(self) -> StubMonitor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def connect(self, *args: Any, **kwargs: Any) -> None:
        if self.calls.fail_connect:
            from pyvirt.errors import MonitorError

            raise MonitorError("stub: no monitor")

    async def set_link(self, alias: str, up: bool) -> None:
        self.calls.set_link.append((alias, up))

    async def cont(self) -> None:
        self.calls.cont += 1
        self.calls.qemu_status = "running"

    async def query_status(self) -> SimpleNamespace:
        status = self.calls.qemu_status
        return SimpleNamespace(status=status, running=status == "running")


def fake_qemu(monkeypatch: pytest.MonkeyPatch, stub_class: type[StubMonitor]) -> Calls:
    """``process.spawn`` starts a detached sleep; every Monitor (the ones imported late
    included) is *stub_class*, bound to the returned :class:`Calls`."""
    seen = Calls()

    def spawn(argv: tuple[str, ...], log_path: Path, *args: Any, **kwargs: Any
              ) -> process.ProcessId:
        seen.spawned.append(tuple(argv))
        seen.qemu_status = "prelaunch"
        proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
        seen.procs.append(proc)
        ident = process.identify(proc.pid)
        assert ident is not None
        return ident

    stub = type("BoundStub", (stub_class,), {"calls": seen})
    monkeypatch.setattr(process, "spawn", spawn)
    monkeypatch.setattr(pyvirt.qmp.monitor, "Monitor", stub)  # bring_up imports it late
    monkeypatch.setattr(runtime_domain, "Monitor", stub)  # observe, destroy
    return seen


def reap(seen: Calls) -> None:
    for proc in seen.procs:
        proc.kill()
        proc.wait()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    seen = fake_qemu(monkeypatch, StubMonitor)
    yield seen
    reap(seen)


@dataclass
class Env:
    base: Path
    root: StateRoot
    uri: str
    emulator: Path
    caps: QemuCaps
    calls: Calls

    def svc(self) -> DomainService:
        """A fresh service: what one pyvirt command sees."""
        return DomainService(Context.open(self.uri))

    def define(self, name: str, memory_mib: int = 64, link: str = "") -> Domain:
        counter = itertools.count(1)
        domain = prepare_definition(
            domain_from_xml(domain_xml(name, self.emulator, memory_mib, link)), self.caps,
            mac_factory(lambda _n: bytes([0xAB, 0, next(counter)])))
        return self.svc().define(domain)

    def plan(self, name: str = "g") -> Path:
        return plan_path(self.root, name)

    def caps_entry(self) -> Path:
        return CapsCache(self.root.caps_dir).entry_path(str(self.emulator))

    def quick(self, name: str = "g", paused: bool = False) -> bool:
        return quick_start(self.root, name, paused, conf_user(self.root))


def conf_user(root: StateRoot) -> Callable[[], str | None]:
    """What the service hands quick_start: pyvirt.conf's ``qemu_user``, read when asked."""
    return lambda: load_config(root).qemu_user


def make_env(base: Path, calls: Calls) -> Env:
    emulator = base / "bin" / "qemu-system-x86_64"
    emulator.parent.mkdir(parents=True)
    emulator.write_text("#!/bin/sh\nexit 1\n")
    emulator.chmod(0o755)
    uri = f"qemu:///embed?root={base / 'root'}"
    root = Context.open(uri).root
    caps = replace(CAPS_72, binary=str(emulator))
    # the capability entry define/start look up, recorded without launching anything
    CapsCache(root.caps_dir, prober=lambda b: replace(CAPS_72, binary=b)).lookup(
        str(emulator))
    return Env(base, root, uri, emulator, caps, calls)


@pytest.fixture
def env(tmp_path: Path, calls: Calls) -> Env:
    return make_env(tmp_path, calls)


@pytest.fixture
def planned(env: Env) -> Env:
    """Domain ``g`` defined, started once on the full path (plan written), destroyed."""
    env.define("g")
    env.svc().start("g")
    assert env.plan().is_file()
    env.svc().destroy("g")
    env.calls.spawned.clear()
    return env


def state(env: Env, name: str = "g") -> str:
    return env.svc().state(name).state.name


# --- the plan file ----------------------------------------------------------------------


def a_launch(name: str = "g") -> Launch:
    return Launch(name, "6f1c2a4e-0b7d-4c1e-9a55-3d2f8e7b6a01",
                  ("/usr/bin/qemu-system-x86_64", "-name", f"guest={name}", "-S",
                   "-device", '{"driver":"virtio-net-pci","id":"ua-net0"}'),
                  f"<domain><name>{name}</name></domain>\n",
                  f"<domain><name>{name}</name><alias/></domain>\n", ("ua-net0", "net1"))


def test_a_plan_survives_a_round_trip(tmp_path: Path) -> None:
    root = StateRoot(tmp_path / "etc", tmp_path / "run", tmp_path / "log", tmp_path / "cache")
    key: dict[str, object] = {"format": 1, "definition": "ab", "emulator": ["/x", 1, 2],
                              "caps": ["/y", 3, 4], "code": "c", "root": ["a", "b"],
                              "qemu_user": None}
    plan = LaunchPlan(key, a_launch())
    save_plan(root, plan)
    assert plan_path(root, "g") == tmp_path / "cache" / "launch" / "g.json"
    assert load_plan(root, "g") == plan
    assert load_plan(root, "other") is None


@pytest.mark.parametrize("content", [
    b"{not json",
    b"\xff\xfe garbage",
    b"[]",
    b'"a string"',
    b"42",
    b"null",
    json.dumps({"key": {}, "uuid": "u", "argv": [], "definition_xml": "",
                "live_xml": "", "link_down": []}).encode(),  # no name
    json.dumps({"key": {}, "name": "g", "uuid": "u", "argv": [], "definition_xml": "",
                "live_xml": ""}).encode(),  # no link_down
    json.dumps({"name": "g", "uuid": "u", "argv": [], "definition_xml": "",
                "live_xml": "", "link_down": []}).encode(),  # no key
    json.dumps({"key": [1, 2], "name": "g", "uuid": "u", "argv": [],
                "definition_xml": "", "live_xml": "", "link_down": []}).encode(),
    json.dumps({"key": {}, "name": "g", "uuid": "u", "argv": 5, "definition_xml": "",
                "live_xml": "", "link_down": []}).encode(),
], ids=["bad-json", "bad-utf8", "list", "string", "number", "null", "no-name",
        "no-link-down", "no-key", "key-not-dict", "argv-not-list"])
def test_a_damaged_plan_is_no_plan(planned: Env, content: bytes) -> None:
    planned.plan().write_bytes(content)
    assert load_plan(planned.root, "g") is None
    assert not planned.quick()
    assert planned.calls.spawned == []


def test_a_plan_naming_another_domain_is_not_used(planned: Env) -> None:
    planned.define("h")
    doc = json.loads(planned.plan().read_text())
    planned.plan("h").write_text(json.dumps(doc))  # g's plan filed under h
    assert load_plan(planned.root, "h") is None
    assert not planned.quick("h")
    assert planned.calls.spawned == []


def test_a_plan_that_is_a_directory_is_no_plan(planned: Env) -> None:
    planned.plan().unlink()
    planned.plan().mkdir()
    assert load_plan(planned.root, "g") is None
    assert not planned.quick()
    assert planned.calls.spawned == []


@pytest.mark.parametrize("drop", ["emulator", "caps"])
def test_a_key_without_its_files_is_not_trusted(planned: Env, drop: str) -> None:
    doc = json.loads(planned.plan().read_text())
    del doc["key"][drop]
    planned.plan().write_text(json.dumps(doc))
    assert not planned.quick()
    assert planned.calls.spawned == []


# --- the plan is used, and does what the full path does ---------------------------------


def test_the_second_start_replays_the_first(env: Env) -> None:
    env.define("g")
    first = env.svc().start("g")
    [full_argv] = env.calls.spawned
    rd = RunDir(env.root.domain_run_dir("g"))
    full_files = {p: p.read_text() for p in (rd.definition, rd.live_xml)}
    plan = load_plan(env.root, "g")
    assert plan is not None and plan.launch.argv == full_argv
    assert plan.launch.definition_xml == (env.root.config_dir / "g.xml").read_text()
    assert plan.launch.live_xml == rd.live_xml.read_text()
    assert plan.launch.link_down == ()
    assert env.calls.cont == 1
    env.svc().destroy("g")
    plan_stat = env.plan().stat()

    assert env.quick()
    assert env.calls.spawned == [full_argv, full_argv]
    assert {p: p.read_text() for p in full_files} == full_files
    assert env.calls.cont == 2
    status = rd.read_status()
    assert status is not None and status.info.state.name == "RUNNING"
    assert status.info.reason.value == "booted"
    assert state(env) == "RUNNING"
    assert env.svc().runtime.live_domain("g") == first
    assert (env.plan().stat().st_ino, env.plan().stat().st_mtime_ns) == \
        (plan_stat.st_ino, plan_stat.st_mtime_ns)  # a replay writes no plan
    env.svc().destroy("g")
    assert lifecycle.start(Context.open(env.uri), "g") == "g"  # the front door: the plan
    assert env.svc().runtime.live_domain("g") == first
    assert len(env.calls.spawned) == 3 and env.plan().stat().st_ino == plan_stat.st_ino


def test_paused_through_the_plan(planned: Env) -> None:
    cont = planned.calls.cont
    assert planned.quick(paused=True)
    assert planned.calls.cont == cont
    assert state(planned) == "PAUSED"
    status = RunDir(planned.root.domain_run_dir("g")).read_status()
    assert status is not None and status.info.reason.value == "user"


def test_links_start_down_through_the_plan(env: Env) -> None:
    env.define("g", link=LINK_DOWN)
    live = env.svc().start("g")
    [down] = [nic.alias for nic in live.devices.interfaces if nic.link is LinkState.DOWN]
    plan = load_plan(env.root, "g")
    assert plan is not None and plan.launch.link_down == (down,)
    assert env.calls.set_link == [(down, False)]
    env.svc().destroy("g")
    env.calls.set_link.clear()
    assert env.quick()
    assert env.calls.set_link == [(down, False)]
    assert env.calls.cont == 2  # set down before the guest runs, then resumed


def test_qemu_failing_through_the_plan_is_stopped_and_reported(planned: Env) -> None:
    planned.calls.fail_connect = True
    with pytest.raises(ProcessError) as quick:
        planned.quick()
    assert len(planned.calls.spawned) == 1
    assert planned.calls.procs[-1].wait(5) is not None  # the "QEMU" was killed
    rd = RunDir(planned.root.domain_run_dir("g"))
    assert rd.read_status() is None and not rd.live_xml.exists()
    assert state(planned) == "SHUTOFF"
    assert rd.read_last_state().reason.value == "failed"
    planned.plan().unlink()  # the full path, failing the same way
    with pytest.raises(ProcessError) as full:
        planned.svc().start("g")
    assert str(quick.value) == str(full.value) == \
        "internal error: QEMU did not answer on its monitor: stub: no monitor"
    assert rd.read_last_state().reason.value == "failed"


def test_an_emulator_that_cannot_run_fails_like_on_the_full_path(planned: Env) -> None:
    """chmod changes neither size nor mtime; the full path checks that it can execute
    the emulator before anything else, and a start must fail with its message."""
    planned.emulator.chmod(0o644)
    assert not planned.quick()
    with pytest.raises(PyvirtError) as first:
        planned.svc().start("g")
    planned.plan().unlink()
    with pytest.raises(PyvirtError) as full:
        planned.svc().start("g")
    assert str(first.value) == str(full.value) == \
        f"Cannot check QEMU binary {planned.emulator}: Permission denied"
    assert planned.calls.spawned == []


# --- every part of the key ----------------------------------------------------------------


def declines(env: Env, name: str = "g") -> None:
    assert not env.quick(name)
    assert env.calls.spawned == []


def test_an_edited_definition_voids_the_plan(planned: Env) -> None:
    stored = planned.root.config_dir / "g.xml"
    stored.write_text(stored.read_text() + "\n")  # same domain, other text
    declines(planned)


def test_a_redefinition_voids_the_plan(planned: Env) -> None:
    old = load_plan(planned.root, "g")
    planned.define("g", memory_mib=96)
    declines(planned)
    planned.svc().start("g")  # the full path, writing a fresh plan
    [argv] = planned.calls.spawned
    new = load_plan(planned.root, "g")
    assert old is not None and new is not None and new.launch.argv == argv != old.launch.argv
    assert argv[argv.index("-m") + 1] == "96"


def test_a_missing_definition_voids_the_plan(planned: Env) -> None:
    (planned.root.config_dir / "g.xml").unlink()
    declines(planned)


def test_a_touched_emulator_voids_the_plan(planned: Env) -> None:
    st = planned.emulator.stat()
    os.utime(planned.emulator, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    declines(planned)


def test_a_resized_emulator_voids_the_plan(planned: Env) -> None:
    st = planned.emulator.stat()
    with planned.emulator.open("a") as f:
        f.write("# upgraded\n")
    os.utime(planned.emulator, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    declines(planned)


def test_a_missing_emulator_voids_the_plan(planned: Env) -> None:
    planned.emulator.unlink()
    declines(planned)


def test_a_rewritten_caps_entry_voids_the_plan(planned: Env) -> None:
    entry = planned.caps_entry()
    st = entry.stat()
    os.utime(entry, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    declines(planned)


def test_a_resized_caps_entry_voids_the_plan(planned: Env) -> None:
    entry = planned.caps_entry()
    st = entry.stat()
    entry.write_text(entry.read_text() + " ")
    os.utime(entry, ns=(st.st_atime_ns, st.st_mtime_ns))
    declines(planned)


def test_a_removed_caps_entry_voids_the_plan(planned: Env) -> None:
    planned.caps_entry().unlink()
    declines(planned)


def test_a_new_qemu_user_voids_the_plan(planned: Env) -> None:
    config_path(planned.root).write_text('qemu_user = "nobody"\n')
    declines(planned)


def test_a_dropped_qemu_user_voids_the_plan(env: Env) -> None:
    env.define("g")
    config_path(env.root).write_text("qemu_user = nobody\n")
    env.svc().start("g")  # spawn is faked: "nobody" is only recorded
    env.svc().destroy("g")
    plan = load_plan(env.root, "g")
    assert plan is not None and plan.key["qemu_user"] == "nobody"
    env.calls.spawned.clear()
    config_path(env.root).write_text("# every default\n")
    declines(env)
    config_path(env.root).write_text("qemu_user = nobody\n")
    assert env.quick()  # positive control: the same configuration again


def test_a_broken_config_fails_the_quick_start_like_the_full_one(planned: Env) -> None:
    config_path(planned.root).write_text("qemu_usr = nobody\n")
    with pytest.raises(Exception) as quick:
        planned.quick()
    planned.plan().unlink()
    with pytest.raises(Exception) as full:
        planned.svc().start("g")
    assert type(quick.value) is type(full.value) and str(quick.value) == str(full.value)
    assert planned.calls.spawned == []


def test_other_code_voids_the_plan(planned: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = load_plan(planned.root, "g")
    assert plan is not None and plan.key["code"] == launch.code_stamp()
    monkeypatch.setattr(launch, "_code_stamp", "0" * 64)
    declines(planned)


def test_the_code_stamp_follows_the_source_files(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    (package / "__pycache__").mkdir()
    monkeypatch.setattr(launch, "_PACKAGE", package)

    def stamp() -> str:
        monkeypatch.setattr(launch, "_code_stamp", None)
        return launch.code_stamp()

    first = stamp()
    assert stamp() == first
    (package / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert stamp() == first  # compiled files are not the code
    st = (package / "sub" / "b.py").stat()
    os.utime(package / "sub" / "b.py", ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert stamp() != first


def test_a_plan_from_another_root_is_not_used(planned: Env) -> None:
    """The whole root copied elsewhere: same definition, same emulator, the caps entry
    the key names still there; only the root differs (and the argv names the old one)."""
    other = planned.base / "copy"
    shutil.copytree(planned.base / "root", other)
    root = Context.open(f"qemu:///embed?root={other}").root
    doc = json.loads(plan_path(root, "g").read_text())
    assert doc["key"]["caps"][0] == str(planned.caps_entry())  # the original's, present
    assert not quick_start(root, "g", False, conf_user(root))
    assert planned.calls.spawned == []


def test_the_key_is_everything_it_claims(env: Env) -> None:
    key = plan_key(env.root, "<domain/>", str(env.emulator), env.caps_entry(), None)
    assert key is not None and set(key) == {"format", "definition", "emulator", "caps",
                                             "code", "root", "qemu_user"}
    assert key != plan_key(env.root, "<domain/> ", str(env.emulator), env.caps_entry(),
                           None)
    assert key != plan_key(env.root, "<domain/>", str(env.emulator), env.caps_entry(),
                           "nobody")
    assert plan_key(env.root, "<domain/>", str(env.base / "nope"), env.caps_entry(),
                    None) is None
    assert plan_key(env.root, "<domain/>", str(env.emulator), env.base / "nope",
                    None) is None


# --- what the full path must reconcile ---------------------------------------------------


def test_declines_while_a_status_record_exists(planned: Env) -> None:
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    planned.calls.procs.append(sleeper)
    ident = process.identify(sleeper.pid)
    assert ident is not None
    rd = RunDir(planned.root.domain_run_dir("g"))
    rd.create()
    rd.write_status(RuntimeStatus(ident.pid, ident.start_time, "RUNNING", "booted", "", 1))
    declines(planned)
    rd.write_status(RuntimeStatus(1 << 22, 1, "RUNNING", "booted", "", 1))  # dead QEMU
    declines(planned)


def test_declines_when_the_pidfile_names_a_live_qemu(planned: Env) -> None:
    rd = RunDir(planned.root.domain_run_dir("g"))
    rd.create()
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                               str(rd.pidfile)], start_new_session=True)
    planned.calls.procs.append(orphan)
    rd.pidfile.write_text(f"{orphan.pid}\n")
    declines(planned)
    orphan.kill()
    orphan.wait()
    assert planned.quick()  # a pidfile of a dead QEMU is nothing to reconcile


@pytest.mark.parametrize("kind", ["claims", "net"])
def test_declines_while_host_records_exist(planned: Env, kind: str) -> None:
    records = HostState(planned.root.run_dir / "hostdev")
    if kind == "claims":
        records.write_claim(Claim(PciAddress.parse_host_string("0000:03:10.2"), "other",
                                  managed=True))
    else:
        records.net_dir.mkdir(parents=True)
        (records.net_dir / "enp3s0f0_vf1.json").write_text("{}")
    assert records.has_records()
    declines(planned)


@pytest.mark.parametrize("name", ["", ".g", "a/b", "../g", "/g"])
def test_declines_names_that_are_no_plans(planned: Env, name: str) -> None:
    if name == ".g":  # a defined domain, with a plan of its own that would hold
        planned.define(".g")
        planned.svc().start(".g")
        assert plan_path(planned.root, ".g").is_file()
        planned.svc().destroy(".g")
        planned.calls.spawned.clear()
    declines(planned, name)


# --- when no plan is written ---------------------------------------------------------------


def host_env(tmp_path: Path, calls: Calls) -> tuple[Any, QemuCaps]:
    """A fake SR-IOV host whose root also has our emulator and its capability entry."""
    host = make_host(tmp_path / "host")
    emulator = tmp_path / "bin" / "qemu-system-x86_64"
    emulator.parent.mkdir(parents=True)
    emulator.write_text("#!/bin/sh\n")
    caps = replace(CAPS_72, binary=str(emulator))
    CapsCache(host.root.caps_dir, prober=lambda b: replace(CAPS_72, binary=b)).lookup(
        str(emulator))
    return host, caps


PLAIN = "<interface type='user'><model type='e1000e'/></interface>"


@pytest.mark.parametrize("device", ["pci-hostdev", "hostdev-interface", "network-interface"])
def test_no_plan_for_host_devices(tmp_path: Path, calls: Calls, device: str) -> None:
    import asyncio

    host, caps = host_env(tmp_path, calls)
    runtime = Runtime(host.root, host=host.sriov())
    asyncio.run(runtime.start(define("plain", PLAIN), caps))  # positive control
    assert plan_path(host.root, "plain").is_file()
    if device == "network-interface":
        store = host.sriov().networks
        store.define_xml("<network><name>sriov-pool</name><forward mode='hostdev' "
                         "managed='yes'><pf dev='enp3s0f0'/></forward></network>")
        store.start("sriov-pool")
    transient = {"pci-hostdev": plain_hostdev(), "hostdev-interface": hostdev_iface(),
                 "network-interface": pool_iface()}[device]
    asyncio.run(Runtime(host.root, host=host.sriov()).start(define("guest", transient), caps))
    assert len(calls.spawned) == 2
    assert not plan_path(host.root, "guest").exists()


def test_no_plan_for_a_migration_destination(env: Env) -> None:
    import asyncio

    domain = env.define("g")
    asyncio.run(Runtime(env.root).start(domain, env.caps, incoming="defer"))
    assert len(env.calls.spawned) == 1 and env.calls.cont == 0
    assert not env.plan().exists()


def test_undefine_forgets_the_plan(planned: Env) -> None:
    planned.svc().undefine("g")
    assert not planned.plan().exists()
    planned.define("g")  # the same definition again: still no plan until a full start
    declines(planned)


def test_a_plan_that_cannot_be_written_fails_nothing(env: Env) -> None:
    (env.root.cache_dir / "launch").parent.mkdir(parents=True, exist_ok=True)
    (env.root.cache_dir / "launch").write_text("not a directory")
    env.define("g")
    env.svc().start("g")
    assert state(env) == "RUNNING"
    assert load_plan(env.root, "g") is None


# --- the domain lock ----------------------------------------------------------------------


def test_a_held_lock_fails_the_quick_start_like_the_full_one(
        planned: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """quick_start waits 30 s for the lock and takes no timeout; the lock class (the one
    both paths construct) is shortened to 0.2 s here, which changes no message."""

    class ShortLock(DomainLock):
        def __init__(self, lock_dir: Path, name: str, job: str,
                     timeout: float = 30.0) -> None:
            super().__init__(lock_dir, name, job, min(timeout, 0.2))

    monkeypatch.setattr(locks, "DomainLock", ShortLock)
    with DomainLock(planned.root.run_dir / "locks", "g", "migrate"):
        with pytest.raises(LockTimeoutError) as quick:
            planned.quick()
        with pytest.raises(LockTimeoutError) as service:
            # the front door tries the plan first: the same error
            lifecycle.start(Context.open(planned.uri), "g")
        planned.plan().unlink()
        with pytest.raises(LockTimeoutError) as full:
            planned.svc().start("g")
    assert str(quick.value) == str(service.value) == str(full.value) == (
        "Timed out during operation: cannot acquire state change lock "
        f"(held by pid {os.getpid()}: migrate)")
    assert planned.calls.spawned == []
