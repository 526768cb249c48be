"""nodedev-* and net-* commands: virsh's wording, one error line, on a fake host."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import pyvirt.cli.hostcmds  # noqa: F401  (registers the commands)
from pyvirt.cli.main import cli
from pyvirt.host.sriov import SriovHost
from pyvirt.service import hosthooks as hooks
from pyvirt.store.roots import StateRoot, parse_uri
from tests.unit.test_host_fakes import (
    PF_NETDEV,
    VF1,
    VF1_ORIGINAL,
    FakeHost,
    define,
    hostdev_iface,
    make_host,
)

POOL = """<network>
  <name>sriov-pool</name>
  <uuid>8c5e1a0e-4e4b-4d1a-9d7e-1f7d2a3b4c5d</uuid>
  <forward mode='hostdev' managed='yes'>
    <pf dev='enp3s0f0'/>
  </forward>
</network>
"""


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    fake = make_host(tmp_path / "machine")

    def sriov_host_for(root: StateRoot) -> SriovHost:
        return SriovHost(root, sysfs=fake.kernel, netlink=fake.netlink,
                         busy=fake.running.__contains__, warn=fake.warnings.append)

    monkeypatch.setattr(hooks, "sriov_host_for", sriov_host_for)
    return fake


def uri_of(tmp_path: Path) -> str:
    return f"qemu:///embed?root={tmp_path / 'root'}"


def run(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-c", uri_of(tmp_path), *args])


def test_nodedev_detach_and_reattach(tmp_path: Path, host: FakeHost) -> None:
    result = run(tmp_path, "nodedev-detach", "pci_0000_03_10_2")
    assert (result.exit_code, result.stdout) == (0, "Device pci_0000_03_10_2 detached\n")
    assert host.kernel.driver_of(VF1) == "vfio-pci"
    result = run(tmp_path, "nodedev-reattach", "0000:03:10.2")
    assert (result.exit_code, result.stdout) == (0, "Device 0000:03:10.2 re-attached\n")
    assert host.kernel.driver_of(VF1) == "ixgbevf"


def test_nodedev_reattach_restores_a_vf_a_dead_guest_left(tmp_path: Path, host: FakeHost
                                                          ) -> None:
    root = StateRoot.for_uri(parse_uri(uri_of(tmp_path)))
    hooks.sriov_host_for(root).prepare(define("guest", hostdev_iface()))
    result = run(tmp_path, "nodedev-reattach", "pci_0000_03_10_2")
    assert result.exit_code == 0, result.output
    assert host.netlink.vfs[(PF_NETDEV, 1)] == VF1_ORIGINAL
    assert host.kernel.driver_of(VF1) == "ixgbevf"


def test_nodedev_of_a_running_guest_is_refused(tmp_path: Path, host: FakeHost) -> None:
    root = StateRoot.for_uri(parse_uri(uri_of(tmp_path)))
    hooks.sriov_host_for(root).prepare(define("guest", hostdev_iface()))
    host.running.add("guest")
    result = run(tmp_path, "nodedev-reattach", "pci_0000_03_10_2")
    assert (result.exit_code, result.stderr) == (
        1, "error: Requested operation is not valid: PCI device 0000:03:10.2 is in use by "
           "driver QEMU, domain guest\n")


def test_nodedev_unknown(tmp_path: Path, host: FakeHost) -> None:
    result = run(tmp_path, "nodedev-detach", "pci_0000_09_00_0")
    assert (result.exit_code, result.stderr) == (
        1, "error: Node device not found: no node device with matching name "
           "'pci_0000_09_00_0'\n")


def test_network_lifecycle_output(tmp_path: Path, host: FakeHost) -> None:
    xml = tmp_path / "pool.xml"
    xml.write_text(POOL)
    assert run(tmp_path, "net-define", str(xml)).stdout == \
        f"Network sriov-pool defined from {xml}\n"
    assert run(tmp_path, "net-list").stdout == (
        " Name   State   Autostart   Persistent\n"
        "---------------------------------------\n\n")
    assert run(tmp_path, "net-start", "sriov-pool").stdout == "Network sriov-pool started\n"
    assert run(tmp_path, "net-list", "--all").stdout == (
        " Name         State    Autostart   Persistent\n"
        "----------------------------------------------\n"
        " sriov-pool   active   no          yes\n\n")
    dumped = run(tmp_path, "net-dumpxml", "sriov-pool").stdout
    assert "<pf dev='enp3s0f0'/>" in dumped and dumped.count("<address") == 4
    assert run(tmp_path, "net-dumpxml", "--inactive", "sriov-pool").stdout == POOL
    assert run(tmp_path, "net-destroy", "sriov-pool").stdout == \
        "Network sriov-pool destroyed\n"
    assert run(tmp_path, "net-undefine", "sriov-pool").stdout == \
        "Network sriov-pool has been undefined\n"
    result = run(tmp_path, "net-start", "sriov-pool")
    assert (result.exit_code, result.stderr) == (
        1, "error: Network not found: no network with matching name 'sriov-pool'\n")


def test_net_define_of_a_nat_network(tmp_path: Path, host: FakeHost) -> None:
    xml = tmp_path / "nat.xml"
    xml.write_text("<network><name>default</name><forward mode='nat'/></network>")
    result = run(tmp_path, "net-define", str(xml))
    assert (result.exit_code, result.stderr) == (
        1, "error: unsupported configuration: network 'default': pyvirt runs only hostdev "
           "pools (<forward mode='hostdev'>) and host bridges (<forward mode='bridge'/>), not "
           "mode 'nat'\n")


def test_net_define_of_a_missing_file(tmp_path: Path, host: FakeHost) -> None:
    result = run(tmp_path, "net-define", str(tmp_path / "nope.xml"))
    assert result.stderr == (f"error: Failed to open file '{tmp_path / 'nope.xml'}': No "
                             "such file or directory\n")
