"""Network XML text <-> :class:`Network`: the hardened loader and the generated grammar
domains use (``load_xml(..., schema="network")``), then the declarations on the model."""

from __future__ import annotations

from pyvirt.domain.xml.document import load_xml
from pyvirt.domain.xml.grammar import Wording
from pyvirt.domain.xml.writer import to_xml_string
from pyvirt.network.model import Network
from pyvirt.xmlspec.engine import format_element, parse

WORDING = Wording(
    attribute="attribute '{name}' is not allowed on {parent}",
    element="element <{name}> is not supported in {parent} by pyvirt (only hostdev and "
            "bridge networks are)")
"""What the grammar does not have is worded as pyvirt always has for networks."""


def network_from_xml(data: bytes | str, source: str = "") -> Network:
    """:raises PyvirtError: for malformed or out-of-schema XML, bad values, or a network
    that is neither a hostdev pool nor a host bridge."""
    return parse(Network, load_xml(data, schema="network", source=source, wording=WORDING))


def network_to_xml(net: Network) -> str:
    """virsh's layout, in libvirt's order: name, uuid, forward (driver, pf, addresses),
    bridge, vlan."""
    return to_xml_string(format_element(net, "network"))
