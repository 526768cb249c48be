"""Hot-plug rules (pure): device documents, matching and MAC ambiguity, teaming pair rules,
placement on the spare root port, QEMU properties, link updates, --live/--config."""

from __future__ import annotations

from itertools import count
from pathlib import Path

import pytest

from pyvirt.domain.defaults import MacFactory, mac_factory
from pyvirt.domain.device import DeviceMissingError, OtherDevice, devices_from_xml
from pyvirt.domain.devmatch import Found, find_alias, find_device, find_link_target
from pyvirt.domain.devplan import counterpart, plan_detach, plan_update
from pyvirt.domain.io import domain_from_xml
from pyvirt.domain.model import Domain, Interface, LinkState
from pyvirt.errors import (
    ConfigUnsupportedError,
    InternalError,
    OperationFailedError,
    OperationInvalidError,
    OperationUnsupportedError,
    SchemaError,
)
from pyvirt.qemu.aliases import assign_aliases
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.define import prepare_definition
from pyvirt.qemu.hotplug import plan_config_attach, plan_live_attach
from pyvirt.service.devices import AFFECT_CONFIG, AFFECT_LIVE, Targets, resolve_targets
from pyvirt.types import MacAddress, PciAddress

CAPS = QemuCaps.from_json((Path(__file__).parents[1] / "data" / "caps" /
                           "qemu-7.2-x86_64.json").read_bytes())
MAC = "52:54:00:71:14:30"
PERSISTENT = f"""<interface type='user'><mac address='{MAC}'/><model type='virtio'/>
  <teaming type='persistent'/><alias name='ua-net0'/></interface>"""
TRANSIENT = """<interface type='user'><model type='e1000e'/>
  <teaming type='transient' persistent='ua-net0'/><alias name='ua-net0-primary'/></interface>"""
MAC_ONLY = f"<interface type='user'><mac address='{MAC}'/></interface>"


def macs() -> MacFactory:
    n = count(1)
    return mac_factory(lambda k: next(n).to_bytes(k, "big"))


def defined(*devices: str) -> Domain:
    """A q35 domain as define stores it (one spare root port when it added the ports)."""
    xml = (f"<domain type='qemu'><name>g1</name><memory>262144</memory><os><type "
           f"arch='x86_64' machine='q35'>hvm</type></os><devices>{''.join(devices)}"
           "<memballoon model='none'/></devices></domain>")
    return prepare_definition(domain_from_xml(xml), CAPS, macs())


def running(*devices: str) -> Domain:
    return assign_aliases(defined(*devices))


def one(xml: str) -> Interface:
    [dev] = devices_from_xml(xml)
    assert isinstance(dev, Interface)
    return dev


# --- device documents -------------------------------------------------------------------

def test_document_holds_one_device_or_several_in_devices() -> None:
    assert len(devices_from_xml(TRANSIENT)) == 1
    pair = devices_from_xml(f"<devices>{PERSISTENT}{TRANSIENT}</devices>")
    assert [d.alias for d in pair] == ["ua-net0", "ua-net0-primary"]  # type: ignore[union-attr]
    assert devices_from_xml("<disk type='file'><target dev='vdb'/></disk>") == (
        OtherDevice("disk"),)
    with pytest.raises(SchemaError, match="found <domain>"):
        devices_from_xml("<domain type='qemu'/>")


# --- matching ----------------------------------------------------------------------------

def test_mac_of_a_teaming_pair_is_ambiguous_with_libvirts_message_and_a_hint() -> None:
    live = running(PERSISTENT, TRANSIENT)
    with pytest.raises(OperationFailedError) as err:
        find_device(live, one(MAC_ONLY), "live detach")
    text = str(err.value)
    assert text.startswith(f"operation failed: multiple devices matching MAC address {MAC} "
                           "found")
    assert "teaming pair 'ua-net0' and 'ua-net0-primary'" in text
    assert "detach-device-alias g1 ua-net0-primary" in text


def test_alias_or_pci_address_name_one_member() -> None:
    live = running(PERSISTENT, TRANSIENT)
    by_alias = one("<interface type='user'><alias name='ua-net0-primary'/></interface>")
    assert find_device(live, by_alias, "live detach") == Found("interface", 1)
    primary = live.devices.interfaces[1]
    assert isinstance(primary.address, PciAddress)
    a = primary.address
    by_pci = one(f"<interface type='user'><mac address='{MAC}'/><address type='pci' "
                 f"domain='0' bus='{a.bus}' slot='0' function='0'/></interface>")
    assert find_device(live, by_pci, "live detach") == Found("interface", 1)


def test_unique_mac_matches_and_missing_devices_are_reported() -> None:
    live = running(PERSISTENT)
    assert find_device(live, one(MAC_ONLY), "live detach") == Found("interface", 0)
    other = "<interface type='user'><mac address='52:54:00:00:00:99'/></interface>"
    with pytest.raises(DeviceMissingError, match=r"^device not found: no device found "
                       r"matching MAC address '52:54:00:00:00:99'$"):
        find_device(live, one(other), "live detach")
    with pytest.raises(InternalError, match=r"^internal error: no device found with alias "
                       r"ua-nope$"):
        find_alias(live, "ua-nope", "live detach")
    with pytest.raises(OperationUnsupportedError, match="live detach of device 'disk' is "
                       "not supported"):
        find_device(live, OtherDevice("disk"), "live detach")


def test_link_target_by_alias_target_dev_or_unique_mac() -> None:
    live = running(PERSISTENT, TRANSIENT)
    assert find_link_target(live, "ua-net0-primary") == Found("interface", 1)
    with pytest.raises(OperationFailedError, match="multiple devices matching MAC"):
        find_link_target(live, MAC)
    with pytest.raises(DeviceMissingError):
        find_link_target(live, "vnet7")


# --- detach: pair rules ------------------------------------------------------------------

def test_persistent_member_cannot_go_while_its_transient_stays() -> None:
    live = running(PERSISTENT, TRANSIENT)
    with pytest.raises(OperationInvalidError, match="cannot detach teaming persistent "
                       "interface 'ua-net0' while its transient partner interface "
                       "'ua-net0-primary' is attached"):
        plan_detach(live, ["ua-net0"], "live detach")


def test_both_members_in_one_request_unplug_transient_first() -> None:
    live = running(PERSISTENT, TRANSIENT)
    plan = plan_detach(live, ["ua-net0", "ua-net0-primary", "ua-net0"], "live detach")
    assert [d.alias for d in plan.devices] == ["ua-net0-primary", "ua-net0"]
    assert plan.after.devices.interfaces == ()


def test_live_device_is_found_in_config_by_user_alias_else_mac_and_address() -> None:
    live = running(PERSISTENT, "<interface type='user'><model type='e1000e'/></interface>")
    assert counterpart(live.devices.interfaces[0]) == "ua-net0"
    auto = live.devices.interfaces[1]
    assert auto.alias == "net0"
    stored = defined(PERSISTENT, "<interface type='user'><model type='e1000e'/></interface>")
    spec = counterpart(auto)
    assert not isinstance(spec, str)
    assert find_device(stored, spec, "persistent detach") == Found("interface", 1)


# --- attach: pair rules, MAC, placement, QEMU properties ---------------------------------

def test_transient_goes_to_the_spare_root_port_with_inherited_mac_and_no_rom() -> None:
    live = running(PERSISTENT)
    plan = plan_live_attach(live, devices_from_xml(TRANSIENT), CAPS, macs())
    [plug] = plan.plugs
    assert plug.netdev == {"type": "user", "id": "hostua-net0-primary"}
    assert plug.props == {
        "driver": "e1000e", "netdev": "hostua-net0-primary", "id": "ua-net0-primary",
        "mac": MAC, "failover_pair_id": "ua-net0", "bus": "pci.3", "addr": "0x0",
        "romfile": ""}
    assert list(plug.props) == ["driver", "netdev", "id", "mac", "failover_pair_id", "bus",
                                "addr", "romfile"]
    after = plan.live_after(1)
    assert after.devices.controllers == live.devices.controllers  # no port was added
    assert after.devices.interfaces[1].mac == MacAddress(MAC)


def test_vf_transient_gets_vfio_props_from_the_builder() -> None:
    vf = ("<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0' "
          "bus='3' slot='0' function='1'/></source><teaming type='transient' "
          "persistent='ua-net0'/><alias name='ua-vf'/></hostdev>")
    [plug] = plan_live_attach(running(PERSISTENT), devices_from_xml(vf), CAPS,
                              macs()).plugs
    assert plug.netdev is None
    assert plug.props == {"driver": "vfio-pci", "host": "0000:03:00.1", "id": "ua-vf",
                          "failover_pair_id": "ua-net0", "bus": "pci.3", "addr": "0x0"}


def test_no_free_root_port_is_refused_with_the_reason() -> None:
    live = running(PERSISTENT, TRANSIENT)  # the spare is taken by nothing: use it first
    plain = "<interface type='user'><model type='e1000e'/><alias name='ua-x'/></interface>"
    first = plan_live_attach(live, devices_from_xml(plain), CAPS, macs()).live_after(1)
    with pytest.raises(OperationFailedError, match=r"no free pcie-root-port to hot-plug "
                       r"interface 'ua-y' into: .* ports can only be added while the domain "
                       "is shut off"):
        plan_live_attach(first, devices_from_xml(plain.replace("ua-x", "ua-y")), CAPS,
                         macs())


@pytest.mark.parametrize(("devices", "message"), [
    ((TRANSIENT,), "no interface has <alias name='ua-net0'/>"),
    ((PERSISTENT.replace("<teaming type='persistent'/>", ""), TRANSIENT),
     "lacks <teaming type='persistent'/>"),
])
def test_transient_needs_its_persistent_partner(devices: tuple[str, ...],
                                                message: str) -> None:
    live = running(*devices[:-1])
    with pytest.raises(ConfigUnsupportedError, match=message):
        plan_live_attach(live, devices_from_xml(devices[-1]), CAPS, macs())


def test_second_transient_and_conflicting_mac_are_refused() -> None:
    live = running(PERSISTENT, TRANSIENT)
    other = TRANSIENT.replace("ua-net0-primary", "ua-other")
    with pytest.raises(ConfigUnsupportedError, match="more than one transient partner"):
        plan_live_attach(live, devices_from_xml(other), CAPS, macs())
    bad_mac = TRANSIENT.replace("<model", "<mac address='52:54:00:00:00:01'/><model")
    with pytest.raises(ConfigUnsupportedError, match="differs from its persistent partner"):
        plan_live_attach(running(PERSISTENT), devices_from_xml(bad_mac), CAPS, macs())


def test_pair_in_one_request_plugs_persistent_first() -> None:
    # explicit ports: the NIC and the USB controller take two, two stay free
    ports = [f"<controller type='pci' index='{i}' model='pcie-root-port'/>" for i in range(1, 5)]
    live = running("<interface type='user'><model type='e1000e'/></interface>", *ports)
    plan = plan_live_attach(live, devices_from_xml(f"<devices>{TRANSIENT}{PERSISTENT}"
                                                   "</devices>"), CAPS, macs())
    assert [p.device.alias for p in plan.plugs] == ["ua-net0", "ua-net0-primary"]
    assert plan.plugs[0].props["failover"] is True


def test_duplicate_alias_and_root_bus_address_are_refused() -> None:
    live = running(PERSISTENT)
    dup = "<interface type='user'><model type='e1000e'/><alias name='ua-net0'/></interface>"
    with pytest.raises(ConfigUnsupportedError, match="non unique alias detected: ua-net0"):
        plan_live_attach(live, devices_from_xml(dup), CAPS, macs())
    on_root = ("<interface type='user'><model type='e1000e'/><address type='pci' domain='0' "
               "bus='0' slot='5' function='0'/></interface>")
    with pytest.raises(OperationFailedError, match=r"\(pcie.0\) does not support hot-plug"):
        plan_live_attach(live, devices_from_xml(on_root), CAPS, macs())


def test_config_attach_adds_a_port_and_keeps_the_live_address() -> None:
    stored = defined(PERSISTENT)
    live_plan = plan_live_attach(assign_aliases(stored), devices_from_xml(TRANSIENT), CAPS,
                                 macs())
    config = plan_config_attach(stored, (), CAPS, macs(), live_plan)
    live_nic, config_nic = live_plan.live_after(1).devices.interfaces[1], \
        config.devices.interfaces[1]
    assert config_nic.address == live_nic.address and config_nic.mac == live_nic.mac
    assert config_nic.alias == "ua-net0-primary"
    more = plan_config_attach(config, devices_from_xml(
        "<interface type='user'><model type='e1000e'/></interface>"), CAPS, macs())
    assert len(more.devices.controllers) == len(config.devices.controllers) + 1


# --- update ------------------------------------------------------------------------------

def test_update_changes_the_link_only() -> None:
    live = running(PERSISTENT, TRANSIENT)
    down = one("<interface type='user'><alias name='ua-net0'/><model type='virtio'/>"
               "<link state='down'/></interface>")
    change = plan_update(live, down, "live update")
    assert change.link_up is False and change.device.link is LinkState.DOWN
    assert change.device.teaming == live.devices.interfaces[0].teaming
    same = plan_update(live, one("<interface type='user'><alias name='ua-net0'/>"
                                 "</interface>"), "live update")
    assert same.link_up is None  # absent <link> is up, as it already is
    with pytest.raises(OperationUnsupportedError, match="cannot change model"):
        plan_update(live, one("<interface type='user'><alias name='ua-net0'/>"
                              "<model type='e1000e'/></interface>"), "live update")
    with pytest.raises(OperationUnsupportedError, match="cannot change the teaming"):
        plan_update(live, one("<interface type='user'><alias name='ua-net0'/><teaming "
                              "type='transient' persistent='ua-x'/></interface>"),
                    "live update")


def test_hostdev_interface_cannot_be_updated() -> None:
    vf = ("<interface type='hostdev' managed='yes'><source><address type='pci' domain='0' "
          "bus='3' slot='0' function='1'/></source><teaming type='transient' "
          "persistent='ua-net0'/><alias name='ua-vf'/></interface>")
    live = running(PERSISTENT, vf)
    with pytest.raises(OperationUnsupportedError, match=r"^Operation not supported: cannot "
                       r"change config of 'hostdev' network interface type$"):
        plan_update(live, one(vf.replace("<alias", "<link state='down'/><alias")),
                    "live update")


# --- --live / --config -------------------------------------------------------------------

@pytest.mark.parametrize(("flags", "persistent", "active", "expected"), [
    (0, False, True, Targets(True, False)),
    (0, False, False, Targets(False, True)),
    (AFFECT_CONFIG, False, True, Targets(False, True)),
    (AFFECT_LIVE | AFFECT_CONFIG, False, True, Targets(True, True)),
    (0, True, True, Targets(True, True)),
    (0, True, False, Targets(False, True)),
])
def test_modification_impact(flags: int, persistent: bool, active: bool,
                             expected: Targets) -> None:
    assert resolve_targets(flags, active=active, has_config=True,
                           persistent=persistent) == expected


def test_modification_impact_refusals() -> None:
    with pytest.raises(OperationInvalidError, match="domain is not running"):
        resolve_targets(AFFECT_LIVE, active=False, has_config=True)
    with pytest.raises(OperationInvalidError, match="transient domains do not have any "
                       "persistent config"):
        resolve_targets(AFFECT_CONFIG, active=True, has_config=False)
