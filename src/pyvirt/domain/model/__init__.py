"""The typed domain model: frozen dataclasses, one module per libvirt section."""

from pyvirt.domain.model.chardev import CharDevice, CharType
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
    Vcpu,
)
from pyvirt.domain.model.hostdev import Hostdev, PciHostdev, UsbHostdev
from pyvirt.domain.model.interface import Interface, InterfaceType, LinkState, NetDriver, Vlan
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
    "Audio", "CharDevice", "CharType", "Controller", "ControllerType", "Cpu", "CpuModel",
    "Devices", "Disk", "DiskBus", "DiskDevice", "DiskFormat", "DiskType", "Domain",
    "DomainType", "Features", "Graphics", "Hostdev", "Input", "InputBus", "InputType",
    "Interface", "InterfaceType", "LifecycleAction", "LinkState", "Memballoon", "NetDriver",
    "Os", "PciHostdev", "PciModel", "PersistentTeaming", "Rng", "Rom", "Teaming",
    "TeamingType", "TransientTeaming", "UsbHostdev", "Vcpu", "Video", "Vlan",
]
