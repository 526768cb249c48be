"""The network model: libvirt's ``<network>``, the part pyvirt runs (hostdev pools and
host bridges).

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

    <network>                                      <!-- an existing host bridge -->
      <name>lan</name>
      <forward mode='bridge'/>
      <bridge name='br0'/>
    </network>

Each item is declared on its field (:mod:`pyvirt.xmlspec`), as in the domain model; the
grammar (``network.rng``) is generated from these declarations. ``<forward>`` is a union
on ``mode`` (libvirt's ``virNetworkForwardType``): today its variants are
:class:`HostdevForward` and :class:`BridgeForward`; nat, route, open, macvtap pools and
the isolated network (no ``<forward>``) would each be a variant of their own. What pyvirt
does not run is refused in libvirt's words, naming the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from lxml import etree

from pyvirt.domain.model.common import format_pci_address, parse_pci_address
from pyvirt.domain.model.interface import Vlan
from pyvirt.errors import ConfigUnsupportedError, ParseError
from pyvirt.types import PciAddress
from pyvirt.xmlspec.codecs import TEXT, YES_NO, checked, where
from pyvirt.xmlspec.fields import Pattern, Shape, Union, attr, child, const, custom

Element = etree._Element

_ADDRESS_ATTRIBUTES = ("type", "domain", "bus", "slot", "function", "connections")
_ADDRESS_BODY = "".join(f'<optional><attribute name="{a}"/></optional>'
                        for a in _ADDRESS_ATTRIBUTES)
_CONNECTIONS = "a count libvirt keeps for a running network; never part of a definition"


def _network_name(el: Element) -> str:
    """The name of the network ``el`` is part of, for messages read below ``<network>``."""
    return (el.getroottree().getroot().findtext("name") or "").strip()


def only_hostdev(name: str, mode: str | None) -> ConfigUnsupportedError:
    """The refusal of any network but a hostdev pool or a host bridge (``mode`` None: no
    ``<forward>``)."""
    return ConfigUnsupportedError(
        f"network '{name}': pyvirt runs only hostdev pools (<forward mode='hostdev'>) "
        "and host bridges (<forward mode='bridge'/>), "
        f"not {'mode ' + repr(mode) if mode else 'networks without <forward>'}")


def _checked_name(name: str, el: Element) -> str:
    if "/" in name or name.startswith("."):
        raise ParseError(f"name '{name}' cannot contain '/' or start with '.'")
    return name


# ----- <forward mode='hostdev'> -----

def _read_managed(el: Element) -> bool | None:
    raw = el.get("managed")
    return None if raw is None else YES_NO.decode(raw, "forward/@managed", el)


def _write_managed(el: Element, obj: Any) -> None:
    if obj.managed:  # libvirt's default, no, is not written
        el.set("managed", "yes")


def _read_pf(el: Element) -> str | None:
    pfs = el.findall("pf")
    if len(pfs) > 1:  # libvirt's model has a list, and refuses more than one
        raise ConfigUnsupportedError("Only one <pf> element is allowed in <forward> of "
                                     f"network {_network_name(el)}")
    return (pfs[0].get("dev") or None) if pfs else None


def _write_pf(el: Element, obj: Any) -> None:
    if obj.pf:
        etree.SubElement(el, "pf").set("dev", obj.pf)


def _read_addresses(el: Element) -> tuple[PciAddress, ...]:
    found = []
    for node in el.findall("address"):
        if node.get("type") not in (None, "", "pci"):
            raise ConfigUnsupportedError(
                f"network '{_network_name(el)}': only PCI addresses can be forwarded in "
                f"hostdev mode{where(node)}")
        found.append(parse_pci_address(node).without_multifunction())
    return tuple(dict.fromkeys(found))  # a VF listed twice is one VF of the pool


def _write_addresses(el: Element, obj: Any) -> None:
    for addr in obj.addresses:
        el.append(format_pci_address(addr))


@dataclass(frozen=True)
class HostdevForward:
    """A pool of SR-IOV VFs handed to guests as VFIO devices.

    ``addresses`` is the configured list; a running pool with ``pf`` has it filled from
    the PF's VFs. ``managed`` is libvirt's default, no: the VFs must then be on vfio-pci
    already (``pyvirt nodedev-detach``).
    """

    XML_IGNORED: ClassVar[dict[str, str]] = {"@connections": _CONNECTIONS}

    # optional in the grammar: a <forward> without a mode is the union's to refuse
    mode: str = const("@mode", "hostdev", required=False)
    managed: bool = custom(_read_managed, _write_managed,
                           Shape(attributes={"managed": False}), default=False)
    driver: str | None = attr("driver/@name")
    pf: str | None = custom(_read_pf, _write_pf, Shape(children=(
        Pattern("pf", '<optional><attribute name="dev"/></optional>', multiple=True),)))
    addresses: tuple[PciAddress, ...] = custom(
        _read_addresses, _write_addresses,
        Shape(children=(Pattern("address", _ADDRESS_BODY, multiple=True),)), default=())

    def xml_check(self, el: Element) -> None:
        if self.pf is None and not self.addresses:
            raise ConfigUnsupportedError(
                f"network '{_network_name(el)}' has no usable devices: give "
                "<pf dev='...'/> or a list of <address type='pci' .../> in "
                "<forward mode='hostdev'>")
        if self.driver not in (None, "vfio"):
            raise ConfigUnsupportedError(f"host device driver '{self.driver}' is not "
                                         "supported; only 'vfio' is")


@dataclass(frozen=True)
class BridgeForward:
    """``<forward mode='bridge'/>``: guests join a host bridge that already exists, named
    by the network's ``<bridge name='...'/>``. Starting the network creates nothing."""

    mode: str = const("@mode", "bridge")


Forward = HostdevForward | BridgeForward
"""What a ``<forward>`` can be."""


def _unknown_mode(raw: str | None, el: Element) -> Exception:
    return only_hostdev(_network_name(el), raw)


FORWARD = Union("@mode", {"hostdev": HostdevForward, "bridge": BridgeForward},
                unknown=_unknown_mode)


# ----- <network> -----

@dataclass(frozen=True)
class Network:
    """A network definition. Every network pyvirt runs is a hostdev pool, whose forward
    :attr:`hostdev` gives, or a host bridge (``forward`` a :class:`BridgeForward`,
    ``bridge`` its name); parsing refuses the rest."""

    XML_IGNORED: ClassVar[dict[str, str]] = {
        "@connections": _CONNECTIONS,
        "@ipv6": "host IPv6 routing of a network with addresses: no hostdev pool has them",
        "@trustGuestRxFilters": "for macvtap and tap NICs: a VFIO VF has no host side",
    }

    name: str = attr("name", checked(TEXT, _checked_name), missing="missing name for network")
    uuid: str | None = attr("uuid")
    forward: Forward | None = child("forward", FORWARD)
    bridge: str | None = attr("bridge/@name")
    vlan: Vlan | None = child("vlan", Vlan)

    def xml_check(self, el: Element) -> None:
        if self.forward is None:
            raise only_hostdev(self.name, None)
        if isinstance(self.forward, BridgeForward) and not self.bridge:
            raise ConfigUnsupportedError(
                f"network '{self.name}' has forward mode 'bridge' but no bridge device "
                "defined (<bridge name='...'/>)")

    @property
    def hostdev(self) -> HostdevForward:
        """The pool's forward.

        :raises ConfigUnsupportedError: for a network that is not a hostdev pool (only a
            model built by hand can be one).
        """
        if not isinstance(self.forward, HostdevForward):
            raise only_hostdev(self.name, None if self.forward is None else self.forward.mode)
        return self.forward
