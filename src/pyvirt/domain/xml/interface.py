"""``<interface>`` parse/format, children in libvirt's formatting order."""

from __future__ import annotations

from pyvirt.domain.model.interface import Interface, InterfaceType, LinkState, NetDriver, Vlan
from pyvirt.domain.xml.address import (
    format_device_info,
    format_pci_address,
    parse_address,
    parse_alias,
    parse_boot,
    parse_pci_address,
)
from pyvirt.domain.xml.common import format_rom, parse_rom
from pyvirt.domain.xml.teaming import format_teaming, parse_interface_teaming
from pyvirt.domain.xml.util import (
    Element,
    attr,
    enum_value,
    int_attr,
    make,
    sub,
    where,
    yes_no,
    yes_no_attr,
)
from pyvirt.errors import ConfigUnsupportedError, ParseError
from pyvirt.types import MacAddress

# Interface types libvirt knows but pyvirt does not run: refused by name, not as "unknown".
_LIBVIRT_ONLY_TYPES = ("direct", "vhostuser", "server", "client", "mcast", "udp",
                       "internal", "vdpa", "null", "vds")


def parse_mac(el: Element) -> MacAddress | None:
    """:raises ParseError: for a malformed MAC; multicast is refused as libvirt does."""
    raw = attr(el.find("mac"), "address")
    if raw is None:
        return None
    mac = MacAddress.parse(raw)
    if mac.is_multicast:
        raise ParseError(f"expected unicast mac address, found multicast '{raw}'")
    return mac


def _parse_type(el: Element) -> InterfaceType:
    raw = attr(el, "type") or ""
    if raw in _LIBVIRT_ONLY_TYPES:
        raise ConfigUnsupportedError(f"interface type '{raw}' is not supported by pyvirt")
    return enum_value(InterfaceType, raw, "interface type", el)


def _parse_vlan(el: Element) -> Vlan | None:
    vlan = el.find("vlan")
    if vlan is None:
        return None
    tags = tuple(int_attr(tag, "id", maximum=4095) or 0 for tag in vlan.findall("tag"))
    if not tags:
        raise ParseError(f"missing vlan tag data{where(vlan)}")
    return Vlan(tags=tags, trunk=bool(yes_no_attr(vlan, "trunk")))


def parse_interface(el: Element) -> Interface:
    """:raises PyvirtError: for any value libvirt would refuse while parsing."""
    kind = _parse_type(el)
    source = el.find("source")
    driver = el.find("driver")
    hostdev = kind is InterfaceType.HOSTDEV
    src_addr = source.find("address") if source is not None else None
    if hostdev and src_addr is None:
        raise ParseError("Missing <source> element in hostdev interface")
    link = el.find("link")
    return Interface(
        type=kind,
        mac=parse_mac(el),
        managed=yes_no_attr(el, "managed") if hostdev else None,
        source_bridge=attr(source, "bridge") if kind is InterfaceType.BRIDGE else None,
        source_network=attr(source, "network") if kind is InterfaceType.NETWORK else None,
        source_dev=attr(source, "dev") if kind is InterfaceType.ETHERNET else None,
        source_address=parse_pci_address(src_addr) if hostdev and src_addr is not None
        else None,
        hostdev_driver=attr(driver, "name") if hostdev else None,
        vlan=_parse_vlan(el),
        target_dev=attr(el.find("target"), "dev"),
        model=attr(el.find("model"), "type"),
        driver=None if hostdev or driver is None else NetDriver(
            name=attr(driver, "name"), queues=int_attr(driver, "queues", minimum=1)),
        teaming=parse_interface_teaming(el),
        link=enum_value(LinkState, attr(link, "state") or "", "link state", link)
        if link is not None else None,
        mtu=int_attr(el.find("mtu"), "size", minimum=1),
        boot=parse_boot(el),
        rom=parse_rom(el),
        alias=parse_alias(el),
        address=parse_address(el.find("address")),
    )


def _format_source(el: Element, iface: Interface) -> None:
    if iface.type is InterfaceType.HOSTDEV:
        if iface.hostdev_driver is not None:
            sub(el, "driver", [("name", iface.hostdev_driver)])
        if iface.source_address is not None:
            sub(el, "source").append(format_pci_address(iface.source_address))
    elif iface.source_bridge is not None:
        sub(el, "source", [("bridge", iface.source_bridge)])
    elif iface.source_network is not None:
        sub(el, "source", [("network", iface.source_network)])
    elif iface.source_dev is not None:
        sub(el, "source", [("dev", iface.source_dev)])


def format_interface(iface: Interface) -> Element:
    el = make("interface", [
        ("type", iface.type.value),
        ("managed", None if iface.managed is None else yes_no(iface.managed)),
    ])
    if iface.mac is not None:
        sub(el, "mac", [("address", iface.mac.value)])
    _format_source(el, iface)
    if iface.vlan is not None:
        vlan = sub(el, "vlan", [("trunk", "yes" if iface.vlan.trunk else None)])
        for tag in iface.vlan.tags:
            sub(vlan, "tag", [("id", tag)])
    if iface.target_dev is not None:
        sub(el, "target", [("dev", iface.target_dev)])
    if iface.model is not None:
        sub(el, "model", [("type", iface.model)])
    if iface.driver is not None:
        sub(el, "driver", [("name", iface.driver.name), ("queues", iface.driver.queues)])
    if iface.teaming is not None:
        el.append(format_teaming(iface.teaming))
    if iface.link is not None:
        sub(el, "link", [("state", iface.link.value)])
    if iface.mtu is not None:
        sub(el, "mtu", [("size", iface.mtu)])
    format_device_info(el, boot=iface.boot, alias=iface.alias, rom=format_rom(iface.rom),
                       address=iface.address)
    return el
