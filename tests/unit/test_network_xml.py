"""Network XML (``pyvirt.network``): the declarations, the shared hardened loader and
the generated grammar.

The expected outputs below were produced by the hand-written ``host/netxml.py`` this
package replaced, from the same inputs: formatting stays byte-identical.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pyvirt.domain.io import domain_from_xml
from pyvirt.domain.model import Vlan, VlanNativeMode, VlanTag
from pyvirt.domain.xml.document import MAX_XML_BYTES, MAX_XML_NODES
from pyvirt.errors import (
    ConfigUnsupportedError,
    ParseError,
    PyvirtError,
    SchemaError,
    XmlSyntaxError,
)
from pyvirt.network.model import HostdevForward, Network
from pyvirt.network.xml import network_from_xml, network_to_xml
from pyvirt.types import PciAddress

UUID = "8c5e1a0e-4e4b-4d1a-9d7e-1f7d2a3b4c5d"
VF = "<address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x{}'/>"
PF = "<forward mode='hostdev'><pf dev='e'/></forward>"

# (input, what the old host/netxml.format_network wrote for it)
OLD_OUTPUTS = [
    (f"<network>\n  <name>sriov-pool</name>\n  <uuid>{UUID}</uuid>\n"
     "  <forward mode='hostdev' managed='yes'>\n    <driver name='vfio'/>\n"
     "    <pf dev='enp3s0f0'/>\n  </forward>\n</network>\n",
     f"<network>\n  <name>sriov-pool</name>\n  <uuid>{UUID}</uuid>\n"
     "  <forward mode='hostdev' managed='yes'>\n    <driver name='vfio'/>\n"
     "    <pf dev='enp3s0f0'/>\n  </forward>\n</network>\n"),
    ("<network><name>sriov-pool</name><forward mode='hostdev' managed='yes'>"
     "<pf dev='enp3s0f0'/></forward></network>",
     "<network>\n  <name>sriov-pool</name>\n  <forward mode='hostdev' managed='yes'>\n"
     "    <pf dev='enp3s0f0'/>\n  </forward>\n</network>\n"),
    (f"<network><name>sriov-pool</name><forward mode='hostdev' managed='no'>{VF.format(1)}"
     f"{VF.format(2)}</forward></network>",
     "<network>\n  <name>sriov-pool</name>\n  <forward mode='hostdev'>\n"
     f"    {VF.format(1)}\n    {VF.format(2)}\n  </forward>\n</network>\n"),
    (f"<network><name>sriov-pool</name><forward mode='hostdev' managed='yes'>{VF.format(1)}"
     "</forward><vlan><tag id='100'/></vlan></network>",
     "<network>\n  <name>sriov-pool</name>\n  <forward mode='hostdev' managed='yes'>\n"
     f"    {VF.format(1)}\n  </forward>\n  <vlan>\n    <tag id='100'/>\n  </vlan>\n"
     "</network>\n"),
    # ignored attributes, stripped text, untyped decimal and duplicate addresses, trunk
    (f"<network connections='3' ipv6='no' trustGuestRxFilters='no'><name> pool </name>"
     f"<uuid> {UUID} </uuid><forward mode='hostdev' connections='1'><driver name='vfio'/>"
     "<address domain='0' bus='3' slot='16' function='1' connections='1'/>"
     f"{VF.format(1)}<address type='pci' bus='0x04' slot='0x00' function='0x7'/>"
     "</forward><vlan trunk='yes'><tag id='42'/><tag id='43'/></vlan></network>",
     f"<network>\n  <name>pool</name>\n  <uuid>{UUID}</uuid>\n  <forward mode='hostdev'>\n"
     f"    <driver name='vfio'/>\n    {VF.format(1)}\n"
     "    <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x7'/>\n"
     "  </forward>\n  <vlan trunk='yes'>\n    <tag id='42'/>\n    <tag id='43'/>\n"
     "  </vlan>\n</network>\n"),
    ("<network><name>p</name><forward mode='hostdev'><pf dev='ens1f0'/><address type='pci' "
     "domain='0x0001' bus='0xff' slot='0x1f' function='0x7'/></forward><vlan><tag id='0'/>"
     "<tag id='4095'/></vlan></network>",
     "<network>\n  <name>p</name>\n  <forward mode='hostdev'>\n    <pf dev='ens1f0'/>\n"
     "    <address type='pci' domain='0x0001' bus='0xff' slot='0x1f' function='0x7'/>\n"
     "  </forward>\n  <vlan>\n    <tag id='0'/>\n    <tag id='4095'/>\n  </vlan>\n"
     "</network>\n"),
    ("<?xml version='1.0'?><!-- c --><network><!-- c --><name>c</name><?pi x?>"
     "<forward mode='hostdev' managed='yes'><pf dev='e'/></forward></network>",
     "<network>\n  <name>c</name>\n  <forward mode='hostdev' managed='yes'>\n"
     "    <pf dev='e'/>\n  </forward>\n</network>\n"),
]


@pytest.mark.parametrize(("xml", "old"), OLD_OUTPUTS)
def test_format_is_what_netxml_wrote_and_round_trips(xml: str, old: str) -> None:
    net = network_from_xml(xml)
    assert network_to_xml(net) == old
    assert network_from_xml(network_to_xml(net)) == net


ADDRESSES = (PciAddress(0, 3, 0x10, 1), PciAddress(1, 0xFF, 0x1F, 7))


@pytest.mark.parametrize("net", [
    Network("n", forward=HostdevForward(pf="e")),
    Network("n", UUID, HostdevForward(managed=True, driver="vfio", pf="enp3s0f0",
                                      addresses=ADDRESSES)),
    Network("n", forward=HostdevForward(addresses=ADDRESSES[:1]),
            vlan=Vlan((VlanTag(42),))),
    Network("n", forward=HostdevForward(pf="e"),
            vlan=Vlan((VlanTag(42, VlanNativeMode.UNTAGGED), VlanTag(4095)), trunk=True)),
    Network("n", forward=HostdevForward(pf="e"), vlan=Vlan((VlanTag(0),), trunk=False)),
], ids=["pf", "everything", "address-vlan", "trunk-native", "trunk-no"])
def test_every_item_round_trips(net: Network) -> None:
    assert network_from_xml(network_to_xml(net)) == net


def test_the_vlan_is_the_domains() -> None:
    """Shared with ``<interface>``: nativeMode and trunk='no' are kept now (netxml
    dropped both)."""
    xml = (f"<network><name>n</name>{PF}<vlan trunk='no'><tag id='42' "
           "nativeMode='untagged'/></vlan></network>")
    net = network_from_xml(xml)
    assert net.vlan == Vlan((VlanTag(42, VlanNativeMode.UNTAGGED),), trunk=False)
    assert "<vlan trunk='no'>\n    <tag id='42' nativeMode='untagged'/>" in \
        network_to_xml(net)


def test_a_missing_forward_mode_is_the_unions_to_refuse() -> None:
    with pytest.raises(ConfigUnsupportedError) as err:
        network_from_xml("<network><name>n</name><forward/></network>")
    assert str(err.value).endswith("not networks without <forward>")


@pytest.mark.parametrize(("xml", "error", "message"), [
    (f"<network foo='1'><name>n</name>{PF}</network>", SchemaError,
     "attribute 'foo' is not allowed on <network> (line 1)"),
    ("<network><name>n</name><forward mode='hostdev' foo='x'><pf dev='e'/></forward>"
     "</network>", SchemaError, "attribute 'foo' is not allowed on <forward> (line 1)"),
    ("<network><name>n</name><forward mode='hostdev'><nat/></forward></network>",
     SchemaError, "element <nat> is not supported in <forward> by pyvirt (only hostdev "
     "and bridge networks are) (line 1)"),
    ("<network><forward mode='hostdev'/></network>", ParseError,
     "missing name for network"),
    (f"<network><name> </name>{PF}</network>", ParseError, "missing name for network"),
    (f"<network><name>a/b</name>{PF}</network>", ParseError,
     "name 'a/b' cannot contain '/' or start with '.'"),
    (f"<network><name>.a</name>{PF}</network>", ParseError,
     "name '.a' cannot contain '/' or start with '.'"),
    ("<network><name>n</name><forward mode='hostdev'><pf dev='a'/><pf dev='b'/></forward>"
     "</network>", ConfigUnsupportedError,
     "Only one <pf> element is allowed in <forward> of network n"),
    ("<network><name>n</name><forward mode='hostdev'><address type='usb' bus='1'/>"
     "</forward></network>", ConfigUnsupportedError,
     "network 'n': only PCI addresses can be forwarded in hostdev mode (line 1)"),
    ("<network><name>n</name><forward mode='hostdev'><address type='pci' bus='0x100'/>"
     "</forward></network>", ParseError,
     "Value '0x100' for 'address/@bus' is out of range (line 1)"),
    ("<network><name>n</name><forward mode='hostdev'><driver name='kvm'/><pf dev='e'/>"
     "</forward></network>", ConfigUnsupportedError,
     "host device driver 'kvm' is not supported; only 'vfio' is"),
    ("<network><name>n</name><forward mode='hostdev' managed='maybe'><pf dev='e'/>"
     "</forward></network>", ParseError,
     "Invalid value 'maybe' for 'forward/@managed': expected 'yes' or 'no' (line 1)"),
    (f"<network><name>n</name>{PF}<vlan><tag id='4096'/></vlan></network>", ParseError,
     "Value '4096' for 'tag/@id' is out of range (line 1)"),
    (f"<network><name>n</name>{PF}<vlan trunk='x'><tag id='1'/></vlan></network>",
     ParseError, "Invalid value 'x' for 'vlan/@trunk': expected 'yes' or 'no' (line 1)"),
])
def test_refusals_keep_their_words(xml: str, error: type[PyvirtError], message: str
                                   ) -> None:
    with pytest.raises(error) as err:
        network_from_xml(xml)
    assert str(err.value) == error.prefix + message


def test_hostdev_of_a_network_that_is_not_a_pool() -> None:
    with pytest.raises(ConfigUnsupportedError, match="not networks without <forward>"):
        _ = Network("n").hostdev


# --- the one hardened loader: refused as a domain is -----------------------------------


def _message(load: Callable[[str], object], data: str) -> str:
    with pytest.raises(XmlSyntaxError) as err:
        load(data)
    return str(err.value)


NETWORK_BODY = f"<network><name>n</name>{PF}</network>"
DOMAIN_BODY = "<domain type='kvm'><name>n</name><memory>1</memory></domain>"


@pytest.mark.parametrize(("doc", "message"), [
    (lambda body: f"<?xml version='1.0'?>\n<!DOCTYPE x [<!ENTITY a 'b'>]>\n{body}",
     "XML error: DOCTYPE is not allowed (line 2)"),
    (lambda body: body + " " * MAX_XML_BYTES,
     f"XML error: document is too large: more than {MAX_XML_BYTES} bytes"),
    (lambda body: body.replace("</name>", "<!-- x -->" * MAX_XML_NODES + "</name>"),
     f"XML error: document has more than {MAX_XML_NODES} nodes outside <metadata>"),
], ids=["doctype", "oversized", "too-many-nodes"])
def test_refused_by_the_same_messages_as_a_domain(doc: Callable[[str], str], message: str
                                                  ) -> None:
    assert _message(network_from_xml, doc(NETWORK_BODY)) == message
    assert _message(domain_from_xml, doc(DOMAIN_BODY)) == message


def test_a_bridge_forward_network_round_trips() -> None:
    xml = ("<network><name>lan</name><forward mode='bridge'/>"
           "<bridge name='br0'/></network>")
    net = network_from_xml(xml)
    assert net.bridge == "br0" and net.forward is not None
    assert net.forward.mode == "bridge"
    assert network_from_xml(network_to_xml(net)) == net
    out = network_to_xml(net)
    assert out.index("<forward") < out.index("<bridge")


def test_a_bridge_forward_without_a_bridge_is_refused() -> None:
    with pytest.raises(ConfigUnsupportedError, match="no bridge device defined"):
        network_from_xml("<network><name>lan</name><forward mode='bridge'/></network>")
