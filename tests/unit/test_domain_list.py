"""``list``, ``define`` and lookup by UUID over many definitions (issue 8's scale target).

``list`` reads only the name and UUID of each definition and observes only domains with
a run directory, all in one event loop; ``define`` and lookup by UUID parse in full only
the definitions whose UUID matches. Running domains are faked: a status record naming a
``sleep`` process, and a stub monitor standing in for QEMU's.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess
import uuid as uuidlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import pyvirt.api
import pyvirt.cli.domcmds  # registers the commands (main.py may import them lazily)
import pyvirt.qmp.monitor
from pyvirt.cli.main import cli
from pyvirt.domain.defaults import mac_factory
from pyvirt.domain.io import domain_from_xml, domain_to_xml, identity_from_xml
from pyvirt.domain.model import Domain
from pyvirt.errors import NoDomainError, OperationFailedError, PyvirtError
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.define import prepare_definition
from pyvirt.runtime import domain as runtime_domain
from pyvirt.runtime import process
from pyvirt.runtime.domain import Runtime
from pyvirt.runtime.status import RuntimeStatus
from pyvirt.service.context import Context
from pyvirt.service.domains import DomainService
from pyvirt.store import domains as store_domains
from pyvirt.store.atomic import write_atomic
from tests.unit.test_host_fakes import CAPS
from tests.unit.test_host_runtime import StubMonitor  # QEMU says: running

CAPS_72 = QemuCaps.from_json(CAPS.read_text())
UUID_A = "6f1c2a4e-0b7d-4c1e-9a55-3d2f8e7b6a01"
UUID_B = "6f1c2a4e-0b7d-4c1e-9a55-3d2f8e7b6a02"
UUID_T = "6f1c2a4e-0b7d-4c1e-9a55-3d2f8e7b6a03"


def domain_xml(name: str, uuid: str | None = None) -> str:
    uuid_el = f"<uuid>{uuid}</uuid>" if uuid else ""
    return (f"<domain type='qemu'><name>{name}</name>{uuid_el}"
            "<memory unit='MiB'>64</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
            "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
            "<memballoon model='none'/></devices></domain>")


def prepared(name: str, uuid: str | None = None) -> Domain:
    """What ``define`` would store, with the recorded capabilities (no QEMU probe)."""
    counter = itertools.count(1)
    return prepare_definition(domain_from_xml(domain_xml(name, uuid)), CAPS_72,
                              mac_factory(lambda _n: bytes([0xAB, 0, next(counter)])))


def uri_of(tmp_path: Path) -> str:
    return f"qemu:///embed?root={tmp_path / 'root'}"


@pytest.fixture
def svc(tmp_path: Path) -> DomainService:
    return DomainService(Context.open(uri_of(tmp_path)))


@pytest.fixture
def fake_running(monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[Callable[[DomainService, Domain, int], None]]:
    """Record *domain* as running under a live ``sleep`` (killed after the test)."""
    procs: list[subprocess.Popen[bytes]] = []
    monkeypatch.setattr(runtime_domain, "Monitor", StubMonitor)
    monkeypatch.setattr(pyvirt.qmp.monitor, "Monitor", StubMonitor)  # query_run_state

    def run(svc: DomainService, domain: Domain, domid: int) -> None:
        proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
        procs.append(proc)
        ident = process.identify(proc.pid)
        assert ident is not None
        record(svc, domain, RuntimeStatus(ident.pid, ident.start_time, "RUNNING", "booted",
                                          domain.uuid or "", domid))

    yield run
    for proc in procs:
        proc.kill()
        proc.wait()


def record(svc: DomainService, domain: Domain, status: RuntimeStatus) -> None:
    rd = svc.runtime.run_dir(domain.name)
    rd.create()
    write_atomic(rd.live_xml, domain_to_xml(domain))
    rd.write_status(status)


def rows(svc: DomainService, include_inactive: bool = True
         ) -> list[tuple[str, str, str, int, bool]]:
    return [(v.name, v.uuid, v.info.state.text, v.domid, v.persistent)
            for v in svc.list_domains(include_inactive)]


def count_event_loops(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    loops: list[int] = []
    real_run = asyncio.run

    def counting_run(main: Any, **kwargs: Any) -> Any:
        loops.append(1)
        return real_run(main, **kwargs)

    monkeypatch.setattr(asyncio, "run", counting_run)
    return loops


def test_list_shows_running_transient_and_crashed_domains_like_virsh(
        svc: DomainService, fake_running: Callable[[DomainService, Domain, int], None],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, uuid in (("a", UUID_A), ("b", UUID_B), ("c", None)):
        svc.define(prepared(name, uuid))
    fake_running(svc, svc.store.load("b"), 2)
    fake_running(svc, prepared("t", UUID_T), 3)  # transient: only its live XML
    crashed = svc.store.load("c")  # its QEMU is gone: the pid is ours, the start time not
    record(svc, crashed, RuntimeStatus(os.getpid(), 0, "RUNNING", "booted",
                                       crashed.uuid or "", 4))
    loops = count_event_loops(monkeypatch)

    listed = rows(svc)

    assert listed == [("a", UUID_A, "shut off", 0, True),
                      ("b", UUID_B, "running", 2, True),
                      ("c", crashed.uuid, "shut off", 0, True),
                      ("t", UUID_T, "running", 3, False)]
    assert len(loops) == 1  # b, c and t observed together
    assert svc.runtime.run_dir("c").read_status() is None  # the crash was reconciled
    assert svc.state("c").reason.value == "crashed"
    assert rows(svc, include_inactive=False) == [("b", UUID_B, "running", 2, True),
                                                 ("t", UUID_T, "running", 3, False)]


def test_inactive_domains_are_neither_parsed_nor_observed(
        svc: DomainService, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        svc.define(prepared(f"d{i}"))
    svc.runtime.run_dir("d3").create()  # a run directory (stopped before): observed

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("list parsed a whole definition")

    observed: list[str] = []
    real_observe = Runtime.observe

    async def observe(self: Runtime, name: str, **kwargs: Any) -> Any:
        observed.append(name)
        return await real_observe(self, name, **kwargs)

    monkeypatch.setattr(store_domains, "domain_from_xml", refuse)
    monkeypatch.setattr(Runtime, "observe", observe)
    loops = count_event_loops(monkeypatch)

    assert [(n, s) for n, _, s, _, _ in rows(svc)] == [(f"d{i}", "shut off") for i in range(5)]
    assert observed == ["d3"]
    assert len(loops) == 1
    observed.clear()
    shutil.rmtree(svc.runtime.run_dir("d3").path)
    assert svc.list_domains(False) == []
    assert observed == [] and len(loops) == 1  # nothing to observe: no event loop


@pytest.mark.parametrize("content", [
    "<domain type='qemu'><name>broken</name><memo",  # truncated
    "",
    "\x00\x01garbage",
    "<network><name>net</name></network>",
    f"<domain type='qemu'><uuid>{UUID_B}</uuid><memory>1</memory></domain>",  # no name
    "<domain type='qemu'><name>bad</name><uuid>not-a-uuid</uuid></domain>",
    "<!DOCTYPE domain><domain type='qemu'><name>dt</name></domain>",
])
def test_a_damaged_definition_is_skipped_not_fatal(svc: DomainService, content: str) -> None:
    svc.define(prepared("a", UUID_A))
    svc.store.config_dir.joinpath("damaged.xml").write_text(content)
    assert [v.name for v in svc.list_domains(True)] == ["a"]
    with pytest.raises(PyvirtError):
        svc.lookup("damaged")  # the damage is reported by what needs the definition
    svc.define(prepared("z", UUID_B))  # no clash with the damaged file
    assert svc.lookup(UUID_A).name == "a"


def test_an_unreadable_entry_is_skipped(svc: DomainService) -> None:
    svc.define(prepared("a", UUID_A))
    (svc.store.config_dir / "dir.xml").mkdir()
    assert [v.name for v in svc.list_domains(True)] == ["a"]


def test_uuid_lookup_finds_every_spelling(svc: DomainService) -> None:
    svc.define(prepared("a", UUID_A))
    svc.define(prepared("b", UUID_B))
    for ref in (UUID_A, UUID_A.upper(), UUID_A.replace("-", ""), f"{{{UUID_A}}}"):
        assert svc.lookup(ref).name == "a", ref
    with pytest.raises(NoDomainError, match=f"no domain with matching uuid '{UUID_T}'"):
        svc.lookup(UUID_T)
    with pytest.raises(NoDomainError, match="no domain with matching name 'nope'"):
        svc.lookup("nope")


def test_define_refuses_a_uuid_another_domain_has(svc: DomainService) -> None:
    svc.define(prepared("a", UUID_A))
    with pytest.raises(OperationFailedError,
                       match=f"domain 'a' already exists with uuid {UUID_A}"):
        svc.define(prepared("b", UUID_A))
    assert svc.define(prepared("a", UUID_A)).uuid == UUID_A  # redefining: no clash
    assert not svc.store.exists("b")


def test_a_schema_invalid_definition_with_the_uuid_is_skipped_as_before(
        svc: DomainService) -> None:
    """Only the UUID is read cheaply; a candidate is then parsed in full, and one that
    does not parse is skipped, as when every definition was parsed."""
    text = domain_to_xml(prepared("z", UUID_A)).replace("<vcpu", "<watchdog/><vcpu")
    svc.store.config_dir.mkdir(parents=True)
    (svc.store.config_dir / "z.xml").write_text(text)
    assert identity_from_xml(text).uuid == UUID_A
    with pytest.raises(NoDomainError, match="no domain with matching uuid"):
        svc.lookup(UUID_A)
    assert svc.define(prepared("a", UUID_A)).uuid == UUID_A


def test_a_hand_edited_uuid_is_read_as_the_full_parser_reads_it(svc: DomainService) -> None:
    """Comments and spaces inside <uuid> must not hide it from the cheap reader."""
    half = len(UUID_A) // 2
    text = domain_to_xml(prepared("h", UUID_A)).replace(
        f"<uuid>{UUID_A}</uuid>",
        f"<!-- edited --><uuid>\n  {UUID_A[:half]}<!-- x -->{UUID_A[half:].upper()} </uuid>")
    svc.store.config_dir.mkdir(parents=True)
    (svc.store.config_dir / "h.xml").write_text(text)
    assert domain_from_xml(text).uuid == UUID_A
    assert svc.lookup(UUID_A).name == "h"
    assert rows(svc) == [("h", UUID_A, "shut off", 0, True)]
    with pytest.raises(OperationFailedError, match="domain 'h' already exists"):
        svc.define(prepared("b", UUID_A))


def test_redefining_a_definition_without_uuid_gives_it_one(svc: DomainService) -> None:
    text = domain_to_xml(prepared("a", UUID_A)).replace(f"<uuid>{UUID_A}</uuid>", "")
    svc.store.config_dir.mkdir(parents=True)
    (svc.store.config_dir / "a.xml").write_text(text)
    (svc.store.config_dir / "b.xml").write_text(text.replace("<name>a<", "<name>b<"))
    assert svc.store.load("a").uuid is None
    uuid = svc.define(prepared("a")).uuid
    assert uuid is not None and str(uuidlib.UUID(uuid)) == uuid


def test_dominfo_and_api_info_still_read_the_definition(tmp_path: Path,
                                                        svc: DomainService) -> None:
    svc.define(prepared("a", UUID_A))
    result = CliRunner().invoke(cli, ["-c", uri_of(tmp_path), "dominfo", "a"])
    assert result.exit_code == 0, result.output
    info = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert {k: v.strip() for k, v in info.items() if k in
            ("Name", "UUID", "OS Type", "State", "CPU(s)", "Max memory", "Persistent")} == {
        "Name": "a", "UUID": UUID_A, "OS Type": "hvm", "State": "shut off", "CPU(s)": "1",
        "Max memory": "65536 KiB", "Persistent": "yes"}
    conn = pyvirt.api.open(uri_of(tmp_path))
    assert conn.lookupByName("a").info() == [pyvirt.api.VIR_DOMAIN_SHUTOFF, 65536, 65536, 1, 0]
    assert [d.UUIDString() for d in conn.listAllDomains()] == [UUID_A]


def test_three_hundred_domains(tmp_path: Path, svc: DomainService,
                               fake_running: Callable[[DomainService, Domain, int], None]
                               ) -> None:
    """Correctness at scale (the timing is bench/'s business, never a test's)."""
    base = prepared("s")
    uuids = {f"s{i:03}": str(uuidlib.UUID(int=i + 1)) for i in range(299)}
    for name, uuid in uuids.items():  # stored as define stores them, as bench/ does
        svc.store.save(replace(base, name=name, uuid=uuid))
    svc.define(prepared("x300", UUID_A))  # the clash check reads all 299 others
    uuids["x300"] = UUID_A
    with pytest.raises(OperationFailedError,
                       match=f"domain 's150' already exists with uuid {uuids['s150']}"):
        svc.define(prepared("y", uuids["s150"]))
    fake_running(svc, svc.store.load("s007"), 1)
    fake_running(svc, prepared("t", UUID_T), 2)

    result = CliRunner().invoke(cli, ["-c", uri_of(tmp_path), "list", "--all"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Id", "Name", "State"]
    expected = {name: ["-", name, "shut", "off"] for name in uuids}
    expected["s007"] = ["1", "s007", "running"]
    expected["t"] = ["2", "t", "running"]
    assert [line.split() for line in lines[2:-1]] == [expected[n] for n in sorted(expected)]
    assert lines[-1] == ""  # virsh ends its table with an empty line
    assert [(v.name, v.uuid) for v in svc.list_domains(True) if v.persistent] == \
        sorted(uuids.items())
    assert [v.name for v in svc.list_domains(False)] == ["s007", "t"]
    assert svc.lookup(uuids["s298"]).name == "s298"
