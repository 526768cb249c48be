"""Hostdev network pools: the store, XML, allocation to teamed domains, give-back."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyvirt.domain.defaults import mac_factory
from pyvirt.domain.io import domain_from_xml, domain_to_xml
from pyvirt.domain.model import InterfaceType, TransientTeaming
from pyvirt.errors import (
    ConfigUnsupportedError,
    HostError,
    OperationInvalidError,
    PyvirtError,
    SchemaError,
    XmlSyntaxError,
)
from pyvirt.host.netlink import VfNetConfig
from pyvirt.host.pools import NoNetworkError
from pyvirt.network.xml import network_from_xml, network_to_xml
from pyvirt.qemu.aliases import assign_aliases
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.define import prepare_definition
from pyvirt.types import PciAddress
from tests.unit.test_host_fakes import (
    CAPS,
    PARTNER_MAC,
    VF1,
    VF1_ORIGINAL,
    VFS,
    FakeHost,
    define,
    domain_xml,
    make_host,
    pool_iface,
)

PF_POOL = """<network>
  <name>sriov-pool</name>
  <uuid>8c5e1a0e-4e4b-4d1a-9d7e-1f7d2a3b4c5d</uuid>
  <forward mode='hostdev' managed='yes'>
    <driver name='vfio'/>
    <pf dev='enp3s0f0'/>
  </forward>
</network>
"""


def address_pool(*vfs: PciAddress, name: str = "sriov-pool", managed: str = "yes") -> str:
    rows = "".join(f"<address type='pci' domain='0x0000' bus='0x{a.bus:02x}' "
                   f"slot='0x{a.slot:02x}' function='0x{a.function:x}'/>" for a in vfs)
    return (f"<network><name>{name}</name><forward mode='hostdev' managed='{managed}'>"
            f"{rows}</forward></network>")


def started(host: FakeHost, xml: str = PF_POOL) -> FakeHost:
    store = host.sriov().networks
    name = store.define_xml(xml).name
    store.start(name)
    return host


# --- XML and store ----------------------------------------------------------------------


def test_network_xml_round_trip_in_libvirts_shape() -> None:
    assert network_to_xml(network_from_xml(PF_POOL)) == PF_POOL


@pytest.mark.parametrize(("xml", "error", "message"), [
    ("<network><name>n</name><forward mode='nat'/></network>", ConfigUnsupportedError,
     "unsupported configuration: network 'n': pyvirt runs only hostdev pools (<forward "
     "mode='hostdev'>) and host bridges (<forward mode='bridge'/>), not mode 'nat'"),
    ("<network><name>n</name></network>", ConfigUnsupportedError,
     "unsupported configuration: network 'n': pyvirt runs only hostdev pools (<forward "
     "mode='hostdev'>) and host bridges (<forward mode='bridge'/>), not networks without "
     "<forward>"),
    ("<network><name>n</name><forward mode='hostdev'/></network>", ConfigUnsupportedError,
     "unsupported configuration: network 'n' has no usable devices: give <pf dev='...'/> "
     "or a list of <address type='pci' .../> in <forward mode='hostdev'>"),
    ("<network><name>n</name><bridge name='virbr0'/></network>", ConfigUnsupportedError,
     "unsupported configuration: network 'n': pyvirt runs only hostdev pools (<forward "
     "mode='hostdev'>) and host bridges (<forward mode='bridge'/>), not networks without "
     "<forward>"),
    ("<network><name>n</name><mtu size='9000'/></network>", SchemaError,
     "XML document failed to validate against schema: element <mtu> is not supported "
     "in <network> by pyvirt (only hostdev and bridge networks are) (line 1)"),
    ("<!DOCTYPE x [<!ENTITY a 'b'>]><network/>", XmlSyntaxError,
     "XML error: DOCTYPE is not allowed (line 1)"),
    ("<domain/>", SchemaError,
     "XML document failed to validate against schema: expected <network>, found <domain> "
     "(line 1)"),
])
def test_network_xml_refusals(xml: str, error: type[PyvirtError], message: str) -> None:
    with pytest.raises(error) as err:
        network_from_xml(xml)
    assert str(err.value) == message


def test_define_start_list_dump_destroy_undefine(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    store = host.sriov().networks
    net = store.define_xml(PF_POOL.replace("  <uuid>8c5e1a0e-4e4b-4d1a-9d7e-1f7d2a3b4c5d"
                                           "</uuid>\n", ""))
    assert net.uuid  # generated
    assert [(v.name, v.active, v.persistent) for v in store.list_networks(True)] == [
        ("sriov-pool", False, True)]
    assert store.list_networks(False) == []
    store.start("sriov-pool")
    live = store.dumpxml("sriov-pool")
    assert all(f"function='0x{a.function:x}'" in live for a in VFS)  # the PF expanded
    assert "<address" not in store.dumpxml("sriov-pool", inactive=True)
    with pytest.raises(OperationInvalidError, match="network is already active"):
        store.start("sriov-pool")
    store.undefine("sriov-pool")  # still running, now transient
    assert [(v.active, v.persistent) for v in store.list_networks(True)] == [(True, False)]
    store.destroy("sriov-pool")
    assert store.list_networks(True) == []
    with pytest.raises(NoNetworkError) as err:
        store.destroy("sriov-pool")
    assert str(err.value) == "Network not found: no network with matching name 'sriov-pool'"


def test_redefinition_keeps_the_uuid_and_refuses_another(tmp_path: Path) -> None:
    store = make_host(tmp_path).sriov().networks
    first = store.define_xml(PF_POOL)
    no_uuid = PF_POOL.replace(f"  <uuid>{first.uuid}</uuid>\n", "")
    assert store.define_xml(no_uuid).uuid == first.uuid
    with pytest.raises(OperationInvalidError, match="already exists with uuid"):
        store.define_xml(PF_POOL.replace("8c5e", "0000"))


def test_pf_without_vfs(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    host.kernel.add_device(PciAddress(0, 8, 0, 0), driver="ixgbe", group=80,
                           netdevs=("enp8s0",))
    store = host.sriov().networks
    store.define_xml(PF_POOL.replace("enp3s0f0", "enp8s0"))
    with pytest.raises(HostError) as err:
        store.start("sriov-pool")
    assert str(err.value) == "internal error: No usable Vf's present on SRIOV PF enp8s0"


# --- allocation ---------------------------------------------------------------------------


def test_pool_member_gets_a_free_vf_with_its_mac_programmed(tmp_path: Path) -> None:
    host = started(make_host(tmp_path))
    stored = define("guest", pool_iface())
    live = host.sriov().prepare(stored)
    nic = live.devices.interfaces[1]
    assert nic.type is InterfaceType.HOSTDEV and nic.vf == VFS[0]
    assert nic.mac == PARTNER_MAC and nic.source.managed is True
    assert nic.teaming == TransientTeaming("ua-backup0")
    assert nic.alias == stored.devices.interfaces[1].alias
    assert nic.address == stored.devices.interfaces[1].address
    assert stored.devices.interfaces[1].type is InterfaceType.NETWORK  # untouched
    assert host.vf(0) == VfNetConfig(PARTNER_MAC, 0)
    assert host.kernel.driver_of(VFS[0]) == "vfio-pci"
    xml = domain_to_xml(live)  # what live.xml (and dumpxml) shows
    assert "<interface type='hostdev' managed='yes'>" in xml
    assert "bus='0x03' slot='0x10' function='0x0'" in xml
    assert domain_from_xml(xml) == live


def test_two_domains_never_share_a_vf_and_release_gives_it_back(tmp_path: Path) -> None:
    host = started(make_host(tmp_path), address_pool(VFS[0], VF1))
    first = host.sriov().prepare(define("first", pool_iface()))
    host.running.add("first")
    second = host.sriov().prepare(define("second", pool_iface()))
    host.running.add("second")
    got = {d.name: d.devices.interfaces[1].vf for d in (first, second)}
    assert got == {"first": VFS[0], "second": VF1}
    with pytest.raises(HostError) as err:
        host.sriov().prepare(define("third", pool_iface()))
    assert str(err.value) == ("internal error: network 'sriov-pool' requires exclusive "
                              "access to interfaces, but none are available")
    host.sriov().release(first)
    host.running.discard("first")
    third = host.sriov().prepare(define("third", pool_iface()))
    assert third.devices.interfaces[1].vf == VFS[0]
    host.sriov().release(second)
    assert host.vf(1) == VF1_ORIGINAL


def test_a_dead_guests_vf_returns_to_the_pool(tmp_path: Path) -> None:
    host = started(make_host(tmp_path), address_pool(VFS[0]))
    host.sriov().prepare(define("crashed", pool_iface()))  # never released, not running
    live = host.sriov().prepare(define("next", pool_iface()))
    assert live.devices.interfaces[1].vf == VFS[0]
    assert any("left held for domain 'crashed'" in w for w in host.warnings)


def test_pool_vf_and_a_fixed_vf_of_the_same_domain_differ(tmp_path: Path) -> None:
    from tests.unit.test_host_fakes import plain_hostdev

    host = started(make_host(tmp_path), address_pool(VFS[0], VF1))
    fixed = plain_hostdev(VFS[0]).replace(
        "<teaming type='transient' persistent='ua-backup0'/>", "")
    live = host.sriov().prepare(define("guest", pool_iface() + fixed))
    assert live.devices.interfaces[1].vf == VF1


def test_pool_vlan_applies_when_the_interface_has_none(tmp_path: Path) -> None:
    xml = address_pool(VF1).replace("</network>", "<vlan><tag id='100'/></vlan></network>")
    host = started(make_host(tmp_path), xml)
    live = host.sriov().prepare(define("guest", pool_iface()))
    assert host.vf(1) == VfNetConfig(PARTNER_MAC, 100)
    assert live.devices.interfaces[1].vlan is not None


def test_inactive_and_unknown_pools(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    host.sriov().networks.define_xml(PF_POOL)
    with pytest.raises(OperationInvalidError) as err:
        host.sriov().prepare(define("guest", pool_iface()))
    assert str(err.value) == ("Requested operation is not valid: network 'sriov-pool' is "
                              "not active")
    with pytest.raises(NoNetworkError) as nonet:
        host.sriov().prepare(define("guest", pool_iface("nosuch")))
    assert str(nonet.value) == "Network not found: no network with matching name 'nosuch'"


def test_the_persistent_member_cannot_come_from_a_pool(tmp_path: Path) -> None:
    host = started(make_host(tmp_path))
    xml = domain_xml("guest", "").replace(
        "<interface type='user'>", "<interface type='network'><source network='sriov-pool'/>")
    with pytest.raises(ConfigUnsupportedError) as err:
        host.sriov().prepare(assign_aliases(prepare_definition(
            domain_from_xml(xml), QemuCaps.from_json(CAPS.read_text()),
            mac_factory(lambda _n: b"\xab\x00\x01"))))
    assert str(err.value) == (
        "unsupported configuration: teaming persistent interface 'ua-backup0' must not use "
        "network 'sriov-pool', a hostdev pool: the persistent member is the emulated "
        "virtio NIC that stays plugged")
    assert host.journal == []


def test_non_teamed_network_interface_without_a_pool_is_left_alone(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    live = define("guest", "<interface type='network'><source network='default'/>"
                           "<model type='virtio'/></interface>")
    assert host.sriov().prepare(live) is live
    assert host.journal == []


def test_managed_no_pool_needs_vfs_on_vfio(tmp_path: Path) -> None:
    host = started(make_host(tmp_path), address_pool(VF1, managed="no"))
    with pytest.raises(OperationInvalidError, match="has managed='no' but is bound to "
                                                    "'ixgbevf'"):
        host.sriov().prepare(define("guest", pool_iface()))
    assert not host.sriov().state.has_records()


def test_migration_between_hosts_with_a_pool_on_each(tmp_path: Path) -> None:
    """The stored definition (type='network') goes to the destination, which programs
    a VF of its own pool; the source gives its VF back after the switch-over."""
    source = started(make_host(tmp_path / "src"), address_pool(VF1))
    dest = started(make_host(tmp_path / "dst"), address_pool(VFS[2]))
    stored = define("guest", pool_iface())
    on_source = source.sriov().prepare(stored)
    source.running.add("guest")
    on_dest = dest.sriov().prepare(stored)  # migration prepare (QEMU -incoming next)
    assert on_source.devices.interfaces[1].vf == VF1
    assert on_dest.devices.interfaces[1].vf == VFS[2]
    assert dest.vf(2).mac == PARTNER_MAC
    source.running.discard("guest")
    source.sriov().release(on_source)  # source cleanup after the migration completed
    assert source.vf(1) == VF1_ORIGINAL
    assert source.kernel.driver_of(VF1) == "ixgbevf"
    assert dest.kernel.driver_of(VFS[2]) == "vfio-pci"


def test_pool_member_without_a_model_is_placed_on_a_root_port() -> None:
    """libvirt's net-virtio-teaming-network gives the member <model type='virtio'/>; a
    member without one must be placed like a hostdev interface, not as an rtl8139."""
    live = define("guest", pool_iface().replace("<model type='virtio'/>", ""))
    assert live.devices.interfaces[1].model is None


def test_room_for_counts_vfs_promised_to_earlier_arrivals(tmp_path: Path) -> None:
    """What ``evacuate`` asks a destination: the VF a guest would get, claiming nothing."""
    host = started(make_host(tmp_path))
    stored = define("guest", pool_iface())
    sriov = host.sriov()
    assert sriov.room_for(stored) == [VFS[0]]
    assert sriov.room_for(stored, taken=[VFS[0]]) == [VFS[1]]
    assert host.kernel.driver_of(VFS[0]) != "vfio-pci"  # nothing was bound or claimed
    with pytest.raises(HostError, match="none are available"):
        sriov.room_for(stored, taken=list(VFS))


BRIDGE_NET = """<network>
  <name>lan</name>
  <uuid>1b6f0c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e</uuid>
  <forward mode='bridge'/>
  <bridge name='br0'/>
</network>
"""


def test_a_bridge_network_defines_starts_lists_dumps_and_destroys(tmp_path: Path) -> None:
    host = make_host(tmp_path)
    store = host.sriov().networks
    assert network_to_xml(network_from_xml(BRIDGE_NET)) == BRIDGE_NET  # libvirt's order
    store.define_xml(BRIDGE_NET)
    store.start("lan")  # the bridge is the host's: nothing is created
    assert [(v.name, v.active, v.persistent) for v in store.list_networks(False)] == [
        ("lan", True, True)]
    assert store.dumpxml("lan") == BRIDGE_NET
    assert store.dumpxml("lan", inactive=True) == BRIDGE_NET
    store.destroy("lan")
    assert store.list_networks(False) == []
    assert host.journal == []
    with pytest.raises(OperationInvalidError, match="network is not active"):
        store.destroy("lan")


def test_a_bridge_network_without_a_bridge_name_is_refused() -> None:
    with pytest.raises(ConfigUnsupportedError) as err:
        network_from_xml("<network><name>lan</name><forward mode='bridge'/></network>")
    assert str(err.value) == (
        "unsupported configuration: network 'lan' has forward mode 'bridge' but no bridge "
        "device defined (<bridge name='...'/>)")


def test_a_nic_on_a_bridge_network_is_refused_with_what_to_write(tmp_path: Path) -> None:
    """Until bridge networks resolve for interfaces, the refusal says what works instead
    (it used to say that bridge networks are not supported, next to saying they are)."""
    host = started(make_host(tmp_path), BRIDGE_NET)
    with pytest.raises(ConfigUnsupportedError) as err:
        host.sriov().prepare(define("guest", pool_iface("lan")))
    assert str(err.value).endswith(
        "uses network 'lan', a host bridge: pyvirt does not resolve bridge networks for an "
        "interface yet; use <interface type='bridge'><source bridge='br0'/></interface>")
