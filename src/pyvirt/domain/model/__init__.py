"""The typed domain model: frozen dataclasses, one module per libvirt section. Each field
declares where it lives in the XML (:mod:`pyvirt.xmlspec`)."""

from pyvirt.domain.model.chardev import Channel, CharDevice, CharType, VirtioSerialAddress
from pyvirt.domain.model.clock import Timer
from pyvirt.domain.model.common import Rom
from pyvirt.domain.model.controller import Controller, ControllerType, PciModel
from pyvirt.domain.model.disk import Disk, DiskBus, DiskDevice, DiskFormat, DiskType
from pyvirt.domain.model.domain import (
    Cpu,
    CpuModel,
    Devices,
    Domain,
    DomainType,
    Features,
    LifecycleAction,
    Os,
    Pm,
    Vcpu,
)
from pyvirt.domain.model.hostdev import Hostdev, PciHostdev, UsbHostdev
from pyvirt.domain.model.interface import (
    BridgeSource,
    DirectSource,
    EthernetSource,
    HostdevSource,
    Interface,
    InterfaceType,
    LinkState,
    MacvtapMode,
    NetDriver,
    NetworkSource,
    NicSource,
    UserSource,
    VhostuserSource,
    Vlan,
    VlanNativeMode,
    VlanTag,
)
from pyvirt.domain.model.misc import (
    Audio,
    Graphics,
    Input,
    InputBus,
    InputType,
    Memballoon,
    Rng,
    Video,
)
from pyvirt.domain.model.teaming import PersistentTeaming, Teaming, TeamingType, TransientTeaming

__all__ = [
    "Audio", "BridgeSource", "Channel", "CharDevice", "CharType", "Controller",
    "ControllerType", "Cpu", "CpuModel", "Devices", "DirectSource", "Disk", "DiskBus",
    "DiskDevice", "DiskFormat", "DiskType", "Domain", "DomainType", "EthernetSource",
    "Features", "Graphics", "Hostdev", "HostdevSource", "Input", "InputBus", "InputType",
    "Interface", "InterfaceType", "LifecycleAction", "LinkState", "MacvtapMode", "Memballoon",
    "NetDriver", "NetworkSource", "NicSource", "Os", "PciHostdev", "PciModel",
    "PersistentTeaming", "Pm", "Rng", "Rom", "Teaming", "TeamingType", "Timer",
    "TransientTeaming", "UsbHostdev", "UserSource", "Vcpu", "VhostuserSource", "Video",
    "VirtioSerialAddress", "Vlan", "VlanNativeMode",
    "VlanTag",
]
