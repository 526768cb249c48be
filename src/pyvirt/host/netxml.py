"""``<network>`` XML for hostdev pools (libvirt's network format, the subset pyvirt runs).

::

    <network>
      <name>sriov-pool</name>
      <uuid>...</uuid>
      <forward mode='hostdev' managed='yes'>
        <driver name='vfio'/>
        <pf dev='enp3s0f0'/>                      <!-- every VF of this PF, or ... -->
        <address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x1'/>
      </forward>
      <vlan><tag id='42'/></vlan>                  <!-- optional default VLAN -->
    </network>

Parsed with the same hardening as domain XML (no DTD, entities, network or huge
trees); anything outside this shape is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from pyvirt.domain.model import Vlan, VlanTag
from pyvirt.domain.model.common import format_pci_address, parse_pci_address
from pyvirt.domain.xml.util import Element, attr, int_attr, make, sub, where, yes_no_attr
from pyvirt.domain.xml.writer import to_xml_string
from pyvirt.errors import ConfigUnsupportedError, ParseError, SchemaError, XmlSyntaxError
from pyvirt.types import PciAddress

MAX_NETWORK_XML = 1024 * 1024
_SHAPE: dict[str, tuple[frozenset[str], frozenset[str]]] = {  # tag: (attributes, children)
    "network": (frozenset({"connections", "ipv6", "trustGuestRxFilters"}),
                frozenset({"name", "uuid", "forward", "vlan"})),
    "name": (frozenset(), frozenset()),
    "uuid": (frozenset(), frozenset()),
    "forward": (frozenset({"mode", "managed", "connections"}),
                frozenset({"driver", "pf", "address"})),
    "driver": (frozenset({"name"}), frozenset()),
    "pf": (frozenset({"dev"}), frozenset()),
    "address": (frozenset({"type", "domain", "bus", "slot", "function", "connections"}),
                frozenset()),
    "vlan": (frozenset({"trunk"}), frozenset({"tag"})),
    "tag": (frozenset({"id", "nativeMode"}), frozenset()),
}


@dataclass(frozen=True)
class HostdevNetwork:
    """A pool of SR-IOV VFs handed to guests as VFIO devices.

    ``addresses`` is the configured list; a running pool with ``pf`` has it filled
    from the PF's VFs. ``managed`` is libvirt's default, no: the VFs must then be on
    vfio-pci already (``pyvirt nodedev-detach``).
    """

    name: str
    uuid: str | None = None
    managed: bool = False
    driver: str | None = None
    pf: str | None = None
    addresses: tuple[PciAddress, ...] = ()
    vlan: Vlan | None = None


def _load(data: bytes | str) -> Element:
    """:raises XmlSyntaxError: for malformed, oversized or DOCTYPE-carrying text."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_NETWORK_XML:
        raise XmlSyntaxError(f"document is too large: more than {MAX_NETWORK_XML} bytes")
    if not raw.strip():
        raise XmlSyntaxError("Document is empty")
    if b"<!DOCTYPE" in raw:
        raise XmlSyntaxError("DOCTYPE is not allowed")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False, remove_comments=True,
                             remove_pis=True)
    try:
        root: Element = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as err:
        raise XmlSyntaxError(" ".join(str(err).split())) from err
    return root


def _check_shape(el: Element) -> None:
    """:raises SchemaError: for an element or attribute outside the supported subset."""
    tag = str(el.tag)
    attrs, children = _SHAPE[tag]
    for key in el.attrib:
        name = str(key)
        if name not in attrs:
            raise SchemaError(f"attribute '{name}' is not allowed on <{tag}>{where(el)}")
    for child in el:
        child_tag = child.tag
        if not isinstance(child_tag, str):
            continue
        if child_tag not in children:
            raise SchemaError(f"element <{child_tag}> is not supported in <{tag}> by "
                              f"pyvirt (only hostdev networks are){where(child)}")
        _check_shape(child)


def parse_network(data: bytes | str) -> HostdevNetwork:
    """:raises PyvirtError: for bad XML, unsupported elements or a non-hostdev network."""
    root = _load(data)
    if root.tag != "network":
        raise SchemaError(f"expected <network>, found <{root.tag}>")
    _check_shape(root)
    name = (root.findtext("name") or "").strip()
    if not name:
        raise ParseError("missing name for network")
    if "/" in name or name.startswith("."):
        raise ParseError(f"name '{name}' cannot contain '/' or start with '.'")
    forward = root.find("forward")
    mode = attr(forward, "mode")
    if forward is None or mode != "hostdev":
        raise ConfigUnsupportedError(
            f"network '{name}': pyvirt runs only hostdev pools (<forward mode='hostdev'>), "
            f"not {'mode ' + repr(mode) if mode else 'networks without <forward>'}")
    pfs = forward.findall("pf")
    if len(pfs) > 1:
        raise ConfigUnsupportedError("Only one <pf> element is allowed in <forward> of "
                                     f"network {name}")
    addresses = []
    for el in forward.findall("address"):
        if attr(el, "type") not in (None, "pci"):
            raise ConfigUnsupportedError(f"network '{name}': only PCI addresses can be "
                                         f"forwarded in hostdev mode{where(el)}")
        addresses.append(parse_pci_address(el).without_multifunction())
    pf = attr(pfs[0], "dev") if pfs else None
    if pf is None and not addresses:
        raise ConfigUnsupportedError(
            f"network '{name}' has no usable devices: give <pf dev='...'/> or a list of "
            "<address type='pci' .../> in <forward mode='hostdev'>")
    driver = attr(forward.find("driver"), "name")
    if driver not in (None, "vfio"):
        raise ConfigUnsupportedError(f"host device driver '{driver}' is not supported; "
                                     "only 'vfio' is")
    return HostdevNetwork(name, (root.findtext("uuid") or "").strip() or None,
                          bool(yes_no_attr(forward, "managed")), driver, pf,
                          tuple(dict.fromkeys(addresses)), _parse_vlan(root.find("vlan")))


def _parse_vlan(el: Element | None) -> Vlan | None:
    if el is None:
        return None
    tags = tuple(VlanTag(int_attr(tag, "id", maximum=4095) or 0)
                 for tag in el.findall("tag"))
    if not tags:
        raise ParseError(f"missing vlan tag data{where(el)}")
    return Vlan(tags, True if yes_no_attr(el, "trunk") else None)


def format_network(net: HostdevNetwork) -> str:
    """virsh's layout; libvirt's order: name, uuid, forward (driver, pf, addresses), vlan."""
    root = make("network")
    sub(root, "name", text=net.name)
    if net.uuid:
        sub(root, "uuid", text=net.uuid)
    forward = sub(root, "forward", [("mode", "hostdev"),
                                    ("managed", "yes" if net.managed else None)])
    if net.driver:
        sub(forward, "driver", [("name", net.driver)])
    if net.pf:
        sub(forward, "pf", [("dev", net.pf)])
    for addr in net.addresses:
        forward.append(format_pci_address(addr))
    if net.vlan is not None:
        vlan = sub(root, "vlan", [("trunk", "yes" if net.vlan.trunk else None)])
        for tag in net.vlan.tags:
            sub(vlan, "tag", [("id", tag.id)])
    return to_xml_string(root)
