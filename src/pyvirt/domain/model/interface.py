"""``<interface>``: guest NICs, including both kinds of teaming member."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyvirt.domain.model.common import Rom
from pyvirt.domain.model.teaming import Teaming
from pyvirt.types import Address, MacAddress, PciAddress


class InterfaceType(StrEnum):
    USER = "user"
    BRIDGE = "bridge"
    ETHERNET = "ethernet"
    NETWORK = "network"
    HOSTDEV = "hostdev"


class LinkState(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Vlan:
    """``<vlan [trunk='yes']><tag id='N'/>...</vlan>``."""

    tags: tuple[int, ...]
    trunk: bool = False


@dataclass(frozen=True)
class NetDriver:
    """``<driver name=... queues=...>`` of an emulated NIC."""

    name: str | None = None
    queues: int | None = None


@dataclass(frozen=True)
class Interface:
    """One ``<interface>``.

    ``source_bridge``/``source_network``/``source_dev``/``source_address`` hold the
    ``<source>`` of the matching ``type`` (bridge, network, ethernet's optional dev,
    hostdev's VF address); the parser guarantees only the one for ``type`` is set.
    ``hostdev_driver`` is ``<driver name='vfio'/>`` of a hostdev interface.
    """

    type: InterfaceType
    mac: MacAddress | None = None
    managed: bool | None = None
    source_bridge: str | None = None
    source_network: str | None = None
    source_dev: str | None = None
    source_address: PciAddress | None = None
    hostdev_driver: str | None = None
    vlan: Vlan | None = None
    target_dev: str | None = None
    model: str | None = None
    driver: NetDriver | None = None
    teaming: Teaming | None = None
    link: LinkState | None = None
    mtu: int | None = None
    boot: int | None = None
    rom: Rom | None = None
    alias: str | None = None
    address: Address | None = None
