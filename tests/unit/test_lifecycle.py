"""One front door per lifecycle verb (service/lifecycle.py), and which domains may have
a launch plan at all.

The CLI's ``start``/``destroy`` and the API's ``create``/``createWithFlags``/``destroy``
call only :mod:`pyvirt.service.lifecycle`, which tries the fast path (launch plan,
run-directory records) and otherwise the full service. The fast paths' own rules are
tested in test_launch_plan.py and test_quick_destroy.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

import pyvirt.cli.domcmds  # noqa: F401  (registers the commands; main.py imports them lazily)
from pyvirt.api import VIR_DOMAIN_START_PAUSED, virConnect, virDomain
from pyvirt.cli.main import cli
from pyvirt.domain.io import domain_from_xml
from pyvirt.domain.model import Domain, InterfaceType
from pyvirt.runtime import domain as runtime_domain
from pyvirt.runtime.domain import HOST_FREE_DEVICE_KINDS, plan_eligible
from pyvirt.service import lifecycle
from pyvirt.service.context import Context
from pyvirt.service.domains import DomainService
from tests.unit.test_launch_plan import Calls, Env, StubMonitor, fake_qemu, make_env, reap

# --- which domains may have a plan: a whitelist -----------------------------------------

PLAIN = domain_from_xml(
    "<domain type='qemu'><name>p</name><memory unit='MiB'>64</memory>"
    "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
    "<disk type='file' device='disk'><source file='/var/lib/d.img'/>"
    "<target dev='vda' bus='virtio'/></disk>"
    "<interface type='user'><model type='virtio'/></interface>"
    "<serial type='pty'/><memballoon model='none'/></devices></domain>")


def with_devices(**kinds: Any) -> Domain:
    return replace(PLAIN, devices=replace(PLAIN.devices, **kinds))


def test_a_domain_with_user_mode_nics_only_may_have_a_plan() -> None:
    assert PLAIN.devices.disks and PLAIN.devices.serials  # host-free kinds in use
    assert plan_eligible(PLAIN)


@pytest.mark.parametrize("nic_type", list(InterfaceType), ids=lambda t: t.value)
def test_only_nic_types_known_to_be_host_free_may_have_a_plan(nic_type: InterfaceType) -> None:
    """bridge, network, direct, ethernet (managed or not), hostdev, vhostuser: each needs
    a tap, macvtap, VF or socket that the host hooks set up, which a plan does not replay."""
    nics = (PLAIN.devices.interfaces[0], SimpleNamespace(type=nic_type))
    assert plan_eligible(with_devices(interfaces=nics)) is (nic_type is InterfaceType.USER)


def test_a_nic_type_added_later_is_not_host_free() -> None:
    unknown = SimpleNamespace(type="vdpa")  # not (yet) an InterfaceType
    assert not plan_eligible(with_devices(interfaces=(unknown,)))


def test_a_host_device_rules_out_a_plan() -> None:
    assert not plan_eligible(with_devices(hostdevs=(SimpleNamespace(),)))


def test_a_device_kind_not_judged_host_free_rules_out_a_plan(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What a kind the model gains later meets: not listed, so not eligible."""
    monkeypatch.setattr(runtime_domain, "HOST_FREE_DEVICE_KINDS",
                        HOST_FREE_DEVICE_KINDS - {"disks"})
    assert not plan_eligible(PLAIN)
    assert plan_eligible(with_devices(disks=()))


@pytest.mark.parametrize(("port", "autoport", "eligible"), [
    (5901, None, True), (5901, False, True), (None, None, False), (-1, None, False),
    (5901, True, False)])
def test_only_a_vnc_display_on_a_fixed_port_is_host_free(
        port: int | None, autoport: bool | None, eligible: bool) -> None:
    vnc = SimpleNamespace(type="vnc", port=port, autoport=autoport)
    assert plan_eligible(with_devices(graphics=(vnc,))) is eligible


# --- the CLI and the API go through the front door --------------------------------------


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    seen = fake_qemu(monkeypatch, StubMonitor)
    yield seen
    reap(seen)


@pytest.fixture
def planned(tmp_path: Path, calls: Calls) -> Env:
    """Domain ``g`` defined, started once on the full path (plan written), destroyed."""
    env = make_env(tmp_path, calls)
    env.define("g")
    assert lifecycle.start(Context.open(env.uri), "g") == "g"  # no plan yet: full path
    assert env.plan().is_file()
    assert lifecycle.destroy(Context.open(env.uri), "g") == "g"
    return env


def no_full_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DomainService, "start",
                        lambda *a, **k: pytest.fail("the full start was used"))


def running(env: Env) -> bool:
    return env.svc().is_running("g")


def test_the_cli_starts_through_the_plan(planned: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    no_full_start(monkeypatch)
    result = CliRunner().invoke(cli, ["-c", planned.uri, "start", "g"])
    assert (result.exit_code, result.stdout) == (0, "Domain 'g' started\n"), result.stderr
    assert running(planned)


@pytest.mark.parametrize("flags", [None, 0, VIR_DOMAIN_START_PAUSED])
def test_the_api_starts_through_the_plan(planned: Env, monkeypatch: pytest.MonkeyPatch,
                                         flags: int | None) -> None:
    no_full_start(monkeypatch)
    dom = virDomain(virConnect(planned.uri), "g", "")
    assert (dom.create() if flags is None else dom.createWithFlags(flags)) == 0
    assert planned.svc().state("g").state.name == ("PAUSED" if flags else "RUNNING")


def test_without_a_plan_both_take_the_full_path(planned: Env) -> None:
    planned.plan().unlink()
    result = CliRunner().invoke(cli, ["-c", planned.uri, "start", "g"])
    assert (result.exit_code, result.stdout) == (0, "Domain 'g' started\n")
    assert planned.plan().is_file()  # the full path wrote a fresh one
    assert virDomain(virConnect(planned.uri), "g", "").destroy() == 0
    planned.plan().unlink()
    assert virDomain(virConnect(planned.uri), "g", "").create() == 0
    assert planned.plan().is_file() and running(planned)


def test_start_by_uuid_goes_the_full_way_and_answers_the_name(planned: Env) -> None:
    uuid = planned.svc().lookup("g").uuid
    assert uuid
    result = CliRunner().invoke(cli, ["-c", planned.uri, "start", uuid])
    assert (result.exit_code, result.stdout) == (0, "Domain 'g' started\n")


def test_the_front_door_is_import_light() -> None:
    """Importing it, and what the fast paths import, loads neither the XML model (nor
    lxml) nor asyncio; the full path imports those itself, when it runs."""
    probe = ("import sys\n"
             "import pyvirt.service.lifecycle, pyvirt.service.context, pyvirt.service.config\n"
             "import pyvirt.runtime.launch, pyvirt.runtime.quickstop, pyvirt.host.netstate\n"
             "print(' '.join(m for m in sys.modules if m.startswith(('pyvirt.domain', "
             "'pyvirt.service.domains', 'lxml', 'asyncio'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                            text=True).stdout.split()
    assert loaded == []
