"""libvirt-python's names on pyvirt's API, through ``pyvirt.api`` on an embed root.

Running guests are faked as in test_domain_list: a status record naming a ``sleep``
process and a stub monitor standing in for QEMU's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

import pyvirt
import pyvirt.api as libvirt
import pyvirt.api_domain
import pyvirt.cli.domcmds  # registers the commands
import pyvirt.qmp.monitor
import pyvirt.service.migrate
from pyvirt.cli.main import cli
from pyvirt.domain.model import Domain
from pyvirt.runtime import domain as runtime_domain
from pyvirt.runtime import hostinfo, process
from pyvirt.runtime.state import DomainState, Reason, StateInfo
from pyvirt.runtime.status import RuntimeStatus
from pyvirt.service.domains import DomainService
from tests.unit.test_domain_list import CAPS_72, UUID_A, UUID_B, UUID_T, prepared, record, uri_of
from tests.unit.test_host_runtime import StubMonitor

Running = Callable[[DomainService, Domain, int], None]


@pytest.fixture
def fake_running(monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    """Record *domain* as running under a live ``sleep`` (killed after the test)."""
    procs: list[subprocess.Popen[bytes]] = []
    monkeypatch.setattr(runtime_domain, "Monitor", StubMonitor)
    monkeypatch.setattr(pyvirt.qmp.monitor, "Monitor", StubMonitor)

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


class PausedMonitor(StubMonitor):
    async def query_status(self) -> SimpleNamespace:
        return SimpleNamespace(status="paused", running=False)


@pytest.fixture
def conn(tmp_path: Path) -> libvirt.virConnect:
    """A connection with ``a`` and ``b`` defined (shut off)."""
    c = libvirt.open(uri_of(tmp_path))
    c._svc.define(prepared("a", UUID_A))
    c._svc.define(prepared("b", UUID_B))
    return c


def code_of(call: Callable[[], object]) -> int:
    with pytest.raises(libvirt.libvirtError) as err:
        call()
    return err.value.get_error_code()


# --- state() and info() --------------------------------------------------------------


def test_state_answers_libvirts_reason_numbers(conn: libvirt.virConnect,
                                               fake_running: Running,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    svc = conn._svc
    a = conn.lookupByName("a")
    assert a.state() == [libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_UNKNOWN]
    fake_running(svc, svc.store.load("a"), 1)
    assert a.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED]
    monkeypatch.setattr(runtime_domain, "Monitor", PausedMonitor)
    monkeypatch.setattr(pyvirt.qmp.monitor, "Monitor", PausedMonitor)
    assert a.state() == [3, 1]  # VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER
    svc.runtime.stopped("a", Reason.DESTROYED, None)
    assert a.state() == [5, 2]  # VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_DESTROYED


def test_info_reports_the_qemu_process_cpu_time(conn: libvirt.virConnect,
                                                fake_running: Running,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    monkeypatch.setattr(pyvirt.api_domain, "cpu_time_ns",
                        lambda pid: asked.append(pid) or 4_200_000_000)
    b = conn.lookupByName("b")
    assert b.info() == [libvirt.VIR_DOMAIN_SHUTOFF, 65536, 65536, 1, 0]
    assert asked == []
    fake_running(conn._svc, conn._svc.store.load("b"), 7)
    assert b.info() == [libvirt.VIR_DOMAIN_RUNNING, 65536, 65536, 1, 4_200_000_000]
    status = conn._svc.runtime.run_dir("b").read_status()
    assert status is not None and asked == [status.pid]


def test_cpu_time_is_read_from_proc_stat(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    fields = ["S"] + ["0"] * 10 + ["150", "50"] + ["0"] * 30
    (tmp_path / "42/stat").write_text(f"42 (qemu (x) y) {' '.join(fields)}\n")
    tick = os.sysconf("SC_CLK_TCK")
    assert hostinfo.cpu_time_ns(42, tmp_path) == 200 * 1_000_000_000 // tick
    assert hostinfo.cpu_time_ns(43, tmp_path) == 0  # gone
    # this test process has run: its time is real and positive
    assert hostinfo.cpu_time_ns(os.getpid()) > 0


# --- the connection ------------------------------------------------------------------


def test_host_facts(conn: libvirt.virConnect, monkeypatch: pytest.MonkeyPatch) -> None:
    assert conn.getType() == "QEMU"
    assert conn.getHostname() == socket.gethostname()
    assert conn.getURI().startswith("qemu:///embed?root=")
    assert conn.getLibVersion() == libvirt.getVersion() == 1000  # pyvirt 0.1.0
    monkeypatch.setattr(type(conn._svc.ctx), "caps_for", lambda self, binary: CAPS_72)
    assert conn.getVersion() == 7_002_022  # QEMU 7.2.22 (the recorded Debian build)
    info = conn.getInfo()
    assert len(info) == 8 and isinstance(info[0], str)
    assert all(isinstance(n, int) and n >= 0 for n in info[1:])
    assert info[2] == os.cpu_count() and info[1] > 0
    assert info[4] * info[5] * info[6] * info[7] == info[2]
    assert 0 < conn.getFreeMemory() <= info[1] * 1024 * 1024


def test_node_info_from_a_fake_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    cpu = "physical id\t: {s}\nsiblings\t: 4\ncpu cores\t: 2\ncpu MHz\t\t: 2400.123\n\n"
    (tmp_path / "cpuinfo").write_text("".join(cpu.format(s=s) for s in (0, 0, 0, 0, 1, 1, 1, 1)))
    (tmp_path / "meminfo").write_text("MemTotal:       16384000 kB\nMemFree:  1024 kB\n")
    info = hostinfo.node_info(tmp_path, tmp_path / "no-nodes")
    assert info[1:] == [16000, 8, 2400, 1, 2, 2, 2]
    assert hostinfo.free_memory(tmp_path) == 1024 * 1024


def test_open_read_only_and_auth_are_local_connections(tmp_path: Path) -> None:
    auth = [[libvirt.VIR_CRED_AUTHNAME], lambda *a: pytest.fail("asked for credentials"),
            None]
    assert libvirt.openAuth(uri_of(tmp_path), auth, 0).listAllDomains() == []
    assert libvirt.openReadOnly(uri_of(tmp_path)).getURI() == uri_of(tmp_path)


def names(domains: list[libvirt.virDomain]) -> list[str]:
    return [d.name() for d in domains]


def test_listing_and_lookups(conn: libvirt.virConnect, fake_running: Running) -> None:
    svc = conn._svc
    fake_running(svc, svc.store.load("b"), 2)
    fake_running(svc, prepared("t", UUID_T), 3)  # transient: only its live XML
    assert conn.listDomainsID() == [2, 3] and conn.numOfDomains() == 2
    assert conn.listDefinedDomains() == ["a"] and conn.numOfDefinedDomains() == 1
    assert conn.lookupByID(3).name() == "t"
    assert code_of(lambda: conn.lookupByID(9)) == libvirt.VIR_ERR_NO_DOMAIN
    assert conn.lookupByUUIDString(UUID_B).name() == "b"
    assert names(conn.listAllDomains()) == ["a", "b", "t"]
    assert names(conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)) == ["b", "t"]
    assert names(conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE)) == ["a"]
    assert names(conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT)) == ["t"]
    assert names(conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT
                                     | libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)) == ["b"]
    assert names(conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_SHUTOFF
                                     | libvirt.VIR_CONNECT_LIST_DOMAINS_PAUSED)) == ["a"]
    conn.lookupByName("a").setAutostart(1)
    assert names(conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART)) == ["a"]
    assert names(conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT)) == []
    b, t = conn.lookupByName("b"), conn.lookupByName("t")
    assert (b.ID(), conn.lookupByName("a").ID()) == (2, -1)
    assert (b.isActive(), b.isPersistent(), t.isPersistent()) == (1, 1, 0)
    assert (b.maxMemory(), b.maxVcpus(), b.UUIDString()) == (65536, 1, UUID_B)
    assert b.connect() is conn


def test_xml_define_and_undefine_flags(conn: libvirt.virConnect) -> None:
    a = conn.lookupByName("a")
    assert "<name>a</name>" in a.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE
                                         | libvirt.VIR_DOMAIN_XML_SECURE)
    assert code_of(lambda: a.XMLDesc(1 << 20)) == libvirt.VIR_ERR_INVALID_ARG
    assert code_of(lambda: conn.defineXMLFlags("<domain/>", 1 << 20)) == \
        libvirt.VIR_ERR_INVALID_ARG
    assert code_of(lambda: a.undefineFlags(1 << 20)) == libvirt.VIR_ERR_INVALID_ARG
    a.setAutostart(True)
    assert a.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
                           | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                           | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA) == 0
    assert conn.listDefinedDomains() == ["b"]
    assert not conn._svc.store.autostart_link("a").is_symlink()  # gone with it
    assert code_of(lambda: conn.lookupByName("a")) == libvirt.VIR_ERR_NO_DOMAIN


def test_autostart_is_a_link_beside_the_definition(conn: libvirt.virConnect,
                                                   fake_running: Running) -> None:
    a = conn.lookupByName("a")
    assert a.autostart() == 0
    assert a.setAutostart(1) == 0 and a.autostart() == 1
    link = conn._svc.store.autostart_link("a")
    assert link.is_symlink() and link.resolve() == conn._svc.store.path_of("a").resolve()
    assert a.setAutostart(1) == 0  # again: no error
    assert a.setAutostart(0) == 0 and a.autostart() == 0
    fake_running(conn._svc, prepared("t", UUID_T), 3)
    assert code_of(lambda: conn.lookupByName("t").setAutostart(1)) == \
        libvirt.VIR_ERR_OPERATION_INVALID


def test_dominfo_shows_the_cpu_time_of_a_running_guest(
        conn: libvirt.virConnect, fake_running: Running,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostinfo, "cpu_time_ns", lambda pid: 12_345_000_000)

    def dominfo() -> str:
        result = CliRunner().invoke(cli, ["-c", conn.getURI(), "dominfo", "a"])
        assert result.exit_code == 0, result.output
        return result.output

    assert "CPU time" not in dominfo()  # as virsh: only while it runs
    fake_running(conn._svc, conn._svc.store.load("a"), 1)
    assert "CPU(s):         1\nCPU time:       12.3s\nMax memory:" in dominfo()


def test_autostart_command_and_dominfo(conn: libvirt.virConnect) -> None:
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["-c", conn.getURI(), *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert run("autostart", "a") == "Domain 'a' marked as autostarted\n"
    assert "Autostart:      enable\n" in run("dominfo", "a")
    assert run("autostart", "--disable", "a") == "Domain 'a' unmarked as autostarted\n"
    assert "Autostart:      disable\n" in run("dominfo", "a")


# --- migration, through virDomain ------------------------------------------------------


def test_migration_methods_are_virdomains(conn: libvirt.virConnect, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str, Any]] = []
    monkeypatch.setattr(pyvirt.service.migrate, "migrate",
                        lambda ctx, ref, uri, opts: calls.append((ref, uri, opts)))
    a = conn.lookupByName("a")
    params = {libvirt.VIR_MIGRATE_PARAM_URI: "tcp:10.0.0.2:49152",
              libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 100}
    flags = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PERSIST_DEST
             | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
    assert a.migrateToURI3("qemu+ssh://host-b/system", params, flags) == 0
    ref, uri, opts = calls.pop()
    assert (ref, uri) == ("a", "qemu+ssh://host-b/system")
    assert (opts.persistent, opts.undefine_source, opts.bandwidth_mib, opts.migrate_uri) == \
        (True, True, 100, "tcp:10.0.0.2:49152")
    # migrate3: to the host another connection is open to, the domain there
    other = libvirt.open(f"qemu:///embed?root={tmp_path / 'host-b'}")
    other._svc.define(prepared("a", UUID_A))  # what the real migration would leave there
    there = a.migrate3(other, {}, libvirt.VIR_MIGRATE_LIVE)
    assert calls.pop()[1] == other.getURI() and there.connect() is other
    assert there.UUIDString() == UUID_A


def test_job_methods_without_a_job(conn: libvirt.virConnect) -> None:
    a = conn.lookupByName("a")
    assert a.jobStats() == {"type": libvirt.VIR_DOMAIN_JOB_NONE}
    assert a.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED) == \
        {"type": libvirt.VIR_DOMAIN_JOB_NONE}
    assert a.jobInfo() == [libvirt.VIR_DOMAIN_JOB_NONE] + [0] * 11
    assert code_of(a.abortJob) == libvirt.VIR_ERR_OPERATION_INVALID


def test_migration_to_the_same_host_is_refused(conn: libvirt.virConnect) -> None:
    a = conn.lookupByName("a")
    assert code_of(lambda: a.migrateToURI3(conn.getURI(), {}, 0)) == \
        libvirt.VIR_ERR_INTERNAL_ERROR


# --- import libvirt ----------------------------------------------------------------------


def test_install_as_libvirt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "libvirt", None)  # restored after the test
    pyvirt.install_as_libvirt()
    import libvirt as imported  # type: ignore[import-not-found,unused-ignore]

    assert imported is libvirt
    assert imported.open is libvirt.open and imported.libvirtError is libvirt.libvirtError
    assert imported.VIR_DOMAIN_RUNNING == 1


# --- reboot and reset ------------------------------------------------------------------


class ButtonMonitor(StubMonitor):
    """QEMU's monitor, recording the buttons pressed; the guest obeys the power button
    unless ``ignores`` says not."""

    pressed: ClassVar[list[str]] = []
    ignores: ClassVar[bool] = False

    async def powerdown_and_wait(self, timeout: float) -> bool:
        self.pressed.append("system_powerdown")
        return not self.ignores

    async def system_reset(self) -> None:
        self.pressed.append("system_reset")

    async def cont(self) -> None:
        self.pressed.append("cont")


@pytest.fixture
def buttons(fake_running: Running, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    pressed: list[str] = []
    monkeypatch.setattr(ButtonMonitor, "pressed", pressed)
    monkeypatch.setattr(runtime_domain, "Monitor", ButtonMonitor)
    return pressed


def test_reset_and_reboot(conn: libvirt.virConnect, fake_running: Running,
                          buttons: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    a = conn.lookupByName("a")
    assert code_of(a.reset) == libvirt.VIR_ERR_OPERATION_INVALID  # not running
    assert code_of(a.reboot) == libvirt.VIR_ERR_OPERATION_INVALID
    fake_running(conn._svc, conn._svc.store.load("a"), 1)
    assert a.reset() == 0 and buttons == ["system_reset"]
    buttons.clear()
    conn._svc.runtime.record_state("a", StateInfo(DomainState.RUNNING, Reason.UNPAUSED))
    assert a.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_UNPAUSED]
    assert a.reboot() == 0
    assert buttons == ["system_powerdown", "system_reset", "cont"]  # on one connection
    # ... and booted again after the reboot, as libvirt's
    assert a.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED]
    assert code_of(lambda: a.reboot(libvirt.VIR_DOMAIN_REBOOT_GUEST_AGENT)) == \
        libvirt.VIR_ERR_INVALID_ARG
    buttons.clear()
    monkeypatch.setattr(ButtonMonitor, "ignores", True)
    with pytest.raises(libvirt.libvirtError) as err:
        a.reboot(libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN)
    assert err.value.get_error_code() == libvirt.VIR_ERR_OPERATION_FAILED
    assert "did not reboot within 60 s" in str(err.value)
    assert buttons == ["system_powerdown"] and a.isActive() == 1


def test_reset_and_reboot_commands(conn: libvirt.virConnect, fake_running: Running,
                                   buttons: list[str]) -> None:
    fake_running(conn._svc, conn._svc.store.load("b"), 1)
    runner = CliRunner()
    out = runner.invoke(cli, ["-c", conn.getURI(), "reset", "b"]).output
    assert out == "Domain 'b' was reset\n"
    out = runner.invoke(cli, ["-c", conn.getURI(), "reboot", "b"]).output
    assert out == "Domain 'b' is being rebooted\n"
    assert buttons == ["system_reset", "system_powerdown", "system_reset", "cont"]


def test_guest_queries_are_libvirt_errors(conn: libvirt.virConnect,
                                          fake_running: Running) -> None:
    """Ansible's libvirt inventory plugin asks them and catches libvirtError."""
    a = conn.lookupByName("a")
    src = libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT
    assert code_of(lambda: a.interfaceAddresses(src)) == libvirt.VIR_ERR_OPERATION_INVALID
    fake_running(conn._svc, conn._svc.store.load("a"), 1)
    assert code_of(lambda: a.interfaceAddresses(source=src)) == \
        libvirt.VIR_ERR_OPERATION_UNSUPPORTED
    assert code_of(lambda: a.guestInfo(types=0)) == libvirt.VIR_ERR_OPERATION_UNSUPPORTED


def test_small_names_scripts_call(conn: libvirt.virConnect) -> None:
    import uuid

    a = conn.lookupByName("a")
    assert a.UUID() == uuid.UUID(UUID_A).bytes and a.OSType() == "hvm"
    assert (a.hasManagedSaveImage(0), a.hasCurrentSnapshot(0)) == (0, 0)
    assert (conn.isAlive(), conn.isSecure(), conn.isEncrypted()) == (1, 1, 0)
    assert libvirt.registerErrorHandler(lambda ctx, err: pytest.fail("called"), None) == 1
    assert libvirt.virGetLastError() is None
    assert code_of(lambda: conn.lookupByName("nope")) == libvirt.VIR_ERR_NO_DOMAIN
