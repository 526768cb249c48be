"""Crash recovery: a pyvirt killed (SIGKILL) between "set MAC" and "started".

The VF state lives on disk in these tests (the sysfs tree, and a PF whose VF table is a
JSON file), so a forked pyvirt can really be killed mid-way and a fresh one in the test
process finds exactly what a real host would: VF on vfio-pci, MAC changed, VLAN not
yet, a saved original and a claim.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from pyvirt.domain.model import Domain
from pyvirt.host.netlink import RecordingNetlink, VfNetConfig
from pyvirt.types import MacAddress
from tests.unit.test_host_fakes import (
    PARTNER_MAC,
    PF_NETDEV,
    VF1,
    VF1_ORIGINAL,
    FakeHost,
    define,
    hostdev_iface,
    make_host,
)


class DiskNetlink(RecordingNetlink):
    """A PF whose VF table survives the process; optionally dies after one request."""

    def __init__(self, path: Path, journal: list[str], vfs: dict[tuple[str, int], VfNetConfig],
                 die_after: str | None = None) -> None:
        super().__init__(vfs=dict(vfs), log=journal)
        self.path = path
        self.die_after = die_after
        if not path.exists():
            self._store()

    def _store(self) -> None:
        self.path.write_text(json.dumps(
            [[pf, vf, str(c.mac), c.vlan] for (pf, vf), c in self.vfs.items()]))

    def _load(self) -> None:
        self.vfs = {(pf, vf): VfNetConfig(MacAddress(mac), vlan)
                    for pf, vf, mac, vlan in json.loads(self.path.read_text())}

    def set_vf_mac(self, pf: str, vf: int, mac: MacAddress) -> None:
        self._load()
        super().set_vf_mac(pf, vf, mac)
        self._store()
        if self.die_after == f"mac {mac}":
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9 between "set MAC" and "started"

    def set_vf_vlan(self, pf: str, vf: int, vlan: int) -> None:
        self._load()
        super().set_vf_vlan(pf, vf, vlan)
        self._store()

    def get_vf(self, pf: str, vf: int) -> VfNetConfig:
        self._load()
        return super().get_vf(pf, vf)


def on_disk(host: FakeHost, die_after: str | None = None) -> FakeHost:
    host.netlink = DiskNetlink(host.base / "pf.json", host.journal, host.netlink.vfs,
                               die_after)
    return host


def start_and_get_killed(host: FakeHost, live: Domain) -> None:
    pid = os.fork()
    if pid == 0:  # the pyvirt that gets killed
        try:
            on_disk(host, die_after=f"mac {PARTNER_MAC}").sriov().prepare(live)
        finally:
            os._exit(1)  # not reached when the kill lands
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_killed_between_set_mac_and_started_leaves_the_way_back(tmp_path: Path) -> None:
    host = on_disk(make_host(tmp_path))
    start_and_get_killed(host, define("guest", hostdev_iface(extra="<vlan><tag id='42'/>"
                                                                  "</vlan>")))
    assert host.netlink.get_vf(PF_NETDEV, 1) == VfNetConfig(PARTNER_MAC, 7)  # no VLAN yet
    assert host.kernel.driver_of(VF1) == "vfio-pci"
    state = host.sriov().state
    saved = state.load_vf(PF_NETDEV, 1)
    assert saved is not None and (saved.mac, saved.vlan) == (VF1_ORIGINAL.mac, 7)
    assert state.claim(VF1) is not None


def test_nodedev_reattach_restores_what_the_killed_start_left(tmp_path: Path) -> None:
    host = on_disk(make_host(tmp_path))
    start_and_get_killed(host, define("guest", hostdev_iface()))
    host.sriov().nodedev_reattach(VF1)  # a new pyvirt
    assert host.vf(1) == VF1_ORIGINAL
    assert host.kernel.driver_of(VF1) == "ixgbevf"
    assert not host.sriov().state.has_records()


def test_next_start_restores_first_and_keeps_the_true_original(tmp_path: Path) -> None:
    host = on_disk(make_host(tmp_path))
    live = define("guest", hostdev_iface())
    start_and_get_killed(host, live)
    host.journal.clear()
    again = host.sriov().prepare(live)  # the user runs `pyvirt start guest` again
    assert host.journal[:3] == [f"ip link set {PF_NETDEV} vf 1 mac aa:bb:cc:00:00:01",
                                f"ip link set {PF_NETDEV} vf 1 vlan 7",
                                f"drop saved {PF_NETDEV} vf 1"]
    assert host.vf(1) == VfNetConfig(PARTNER_MAC, 0)
    host.sriov().release(again)
    assert host.vf(1) == VF1_ORIGINAL  # not the MAC the killed run had set


def test_any_next_start_reconciles_a_dead_domains_vf(tmp_path: Path) -> None:
    host = on_disk(make_host(tmp_path))
    start_and_get_killed(host, define("guest", hostdev_iface()))
    other = define("other", "<interface type='user'><model type='e1000e'/></interface>")
    host.sriov().prepare(other)
    assert host.vf(1) == VF1_ORIGINAL
    assert host.kernel.driver_of(VF1) == "ixgbevf"


def test_a_running_domains_claims_are_not_reconciled(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    host.sriov().prepare(define("guest", hostdev_iface()))
    host.running.add("guest")
    host.sriov().prepare(define("other", "<interface type='user'/>"))
    assert host.vf(1).mac == PARTNER_MAC
    assert host.sriov().state.claim(VF1) is not None


def test_a_saved_config_without_claim_is_restored_by_nodedev_reattach(tmp_path: Path
                                                                      ) -> None:
    host = make_host(tmp_path)
    live = host.sriov().prepare(define("guest", hostdev_iface()))
    host.sriov().state.drop_claim(VF1)  # e.g. a claim removed by hand
    host.sriov().nodedev_reattach(VF1)
    assert host.vf(1) == VF1_ORIGINAL
    assert host.kernel.driver_of(VF1) == "ixgbevf"
    assert live.name == "guest"
