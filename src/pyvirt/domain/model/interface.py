"""``<interface>``: guest NICs, including both kinds of teaming member.

The source is a tagged union on ``type`` (libvirt's ``union data``): each kind holds
only what its ``<source>`` means. What the runtime makes for it at start (a tap) shows in
the live XML only (``<target dev>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyvirt.domain.model.common import Rom, address, alias, boot, rom, source_pci_address
from pyvirt.domain.model.teaming import Teaming, interface_teaming
from pyvirt.domain.xml.util import Element
from pyvirt.errors import ConfigUnsupportedError, ParseError
from pyvirt.types import Address, MacAddress, PciAddress
from pyvirt.xmlspec.codecs import YES_NO, checked, enum, uint, value_codec, where
from pyvirt.xmlspec.fields import attr, child, children, const, union


class InterfaceType(StrEnum):
    USER = "user"
    BRIDGE = "bridge"
    ETHERNET = "ethernet"
    NETWORK = "network"
    DIRECT = "direct"
    HOSTDEV = "hostdev"
    VHOSTUSER = "vhostuser"


class LinkState(StrEnum):
    UP = "up"
    DOWN = "down"


class MacvtapMode(StrEnum):
    VEPA = "vepa"
    BRIDGE = "bridge"
    PRIVATE = "private"
    PASSTHROUGH = "passthrough"


class VlanNativeMode(StrEnum):
    TAGGED = "tagged"
    UNTAGGED = "untagged"


def _unicast(mac: MacAddress, el: Element) -> MacAddress:
    if mac.is_multicast:
        raise ParseError(f"expected unicast mac address, found multicast '{mac.value}'")
    return mac


MAC = checked(value_codec(MacAddress.parse, lambda m: m.value,
                          (MacAddress("52:54:00:12:34:56"),)), _unicast)


# ----- sources: one class per interface type -----

@dataclass(frozen=True, kw_only=True)
class UserSource:
    """``type='user'``: QEMU's user-mode (slirp) network; no ``<source>``."""

    type: str = const("@type", "user")


@dataclass(frozen=True, kw_only=True)
class EthernetSource:
    """``type='ethernet'``: a tap device with no bridge."""

    type: str = const("@type", "ethernet")
    dev: str | None = attr("source/@dev")


@dataclass(frozen=True, kw_only=True)
class BridgeSource:
    """``type='bridge'``: a tap on a host bridge."""

    type: str = const("@type", "bridge")
    bridge: str | None = attr("source/@bridge")


@dataclass(frozen=True, kw_only=True)
class NetworkSource:
    """``type='network'``: a port of a pyvirt (libvirt-style) virtual network."""

    type: str = const("@type", "network")
    network: str | None = attr("source/@network")
    portgroup: str | None = attr("source/@portgroup")


@dataclass(frozen=True, kw_only=True)
class DirectSource:
    """``type='direct'``: a macvtap on the host device ``dev``."""

    type: str = const("@type", "direct")
    dev: str | None = attr("source/@dev")
    mode: MacvtapMode | None = attr("source/@mode", enum(MacvtapMode, "macvtap mode"))


@dataclass(frozen=True, kw_only=True)
class VhostuserSource:
    """``type='vhostuser'``: a vhost-user socket."""

    type: str = const("@type", "vhostuser")
    socket_type: str | None = attr("source/@type")
    path: str | None = attr("source/@path")
    mode: str | None = attr("source/@mode")


@dataclass(frozen=True, kw_only=True)
class HostdevSource:
    """``type='hostdev'``: an SR-IOV VF given to the guest (VFIO)."""

    type: str = const("@type", "hostdev")
    managed: bool | None = attr("@managed", YES_NO)
    driver: str | None = attr("driver/@name")
    address: PciAddress = source_pci_address(
        missing="Missing <source> element in hostdev interface", with_type=True,
        field="address")


NicSource = (UserSource | EthernetSource | BridgeSource | NetworkSource | DirectSource
             | HostdevSource | VhostuserSource)
SOURCES: dict[str, type] = {
    "user": UserSource, "ethernet": EthernetSource, "bridge": BridgeSource,
    "network": NetworkSource, "direct": DirectSource, "hostdev": HostdevSource,
    "vhostuser": VhostuserSource}
# Interface types libvirt knows but pyvirt does not model: refused by name.
_LIBVIRT_ONLY_TYPES = ("server", "client", "mcast", "udp", "internal", "vdpa", "null", "vds")


def _unknown_type(raw: str | None, el: Element) -> Exception:
    if raw in _LIBVIRT_ONLY_TYPES:
        return ConfigUnsupportedError(f"interface type '{raw}' is not supported by pyvirt")
    return ParseError(f"unknown interface type '{raw or ''}'{where(el)}")


# ----- the rest of the interface -----

@dataclass(frozen=True)
class VlanTag:
    id: int = attr("@id", uint(0, 4095), required=True)
    native_mode: VlanNativeMode | None = attr(
        "@nativeMode", enum(VlanNativeMode, "vlan nativeMode"))


@dataclass(frozen=True)
class Vlan:
    """``<vlan [trunk='yes']><tag id='N' [nativeMode=...]/>...</vlan>``."""

    tags: tuple[VlanTag, ...] = children("tag", VlanTag, required=True)
    trunk: bool | None = attr("@trunk", YES_NO)

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(t.id for t in self.tags)


@dataclass(frozen=True)
class NetDriver:
    """``<driver name=... queues=...>`` of an emulated NIC."""

    name: str | None = attr("@name")
    queues: int | None = attr("@queues", uint(1))


@dataclass(frozen=True, kw_only=True)
class Interface:
    """One ``<interface>``; ``source`` is the kind-specific part (its ``type``)."""

    mac: MacAddress | None = attr("mac/@address", MAC, need=True)
    source: NicSource = union("@type", SOURCES, unknown=_unknown_type)
    vlan: Vlan | None = child("vlan", Vlan)
    target_dev: str | None = attr("target/@dev", need=True)
    target_managed: bool | None = attr("target/@managed", YES_NO)
    model: str | None = attr("model/@type", need=True)
    driver: NetDriver | None = child("driver", NetDriver)
    teaming: Teaming | None = interface_teaming()
    link: LinkState | None = attr("link/@state", enum(LinkState, "link state"), need=True)
    mtu: int | None = attr("mtu/@size", uint(1), need=True)
    boot: int | None = boot()
    alias: str | None = alias()
    rom: Rom | None = rom()
    address: Address | None = address()

    @property
    def type(self) -> InterfaceType:
        return InterfaceType(self.source.type)

    @property
    def is_hostdev(self) -> bool:
        return isinstance(self.source, HostdevSource)

    @property
    def source_label(self) -> str:
        """What virsh's ``domiflist`` shows as the source (``-`` when none)."""
        s = self.source
        label = s.bridge if isinstance(s, BridgeSource) else \
            s.network if isinstance(s, NetworkSource) else \
            s.dev if isinstance(s, EthernetSource | DirectSource) else \
            s.path if isinstance(s, VhostuserSource) else \
            s.address.host_string if isinstance(s, HostdevSource) else None
        return label or "-"

    @property
    def vf(self) -> PciAddress | None:
        """The host PCI address of a ``type='hostdev'`` NIC."""
        return self.source.address if isinstance(self.source, HostdevSource) else None

