"""What every part of the builder shares: the (aliased) domain, caps, env, and the
translation of device addresses and ROM settings into QEMU properties."""

from __future__ import annotations

from dataclasses import dataclass

from pyvirt.domain.model import Controller, ControllerType, Domain, Rom
from pyvirt.errors import ConfigUnsupportedError, InternalError
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.command.env import BuildEnv
from pyvirt.qemu.command.props import JsonValue
from pyvirt.qemu.machine import is_q35
from pyvirt.types import Address, PciAddress

PropList = list[tuple[str, JsonValue]]


@dataclass(frozen=True)
class BuildContext:
    """The inputs of one build. ``domain`` already has its aliases and boot indexes."""

    domain: Domain
    caps: QemuCaps
    env: BuildEnv

    @property
    def is_q35(self) -> bool:
        return is_q35(self.domain.os.machine)

    def controller(self, kind: ControllerType, index: int) -> Controller | None:
        return next((c for c in self.domain.devices.controllers
                     if c.type is kind and c.index == index), None)

    def pci_bus_alias(self, bus: int) -> str:
        """QEMU id of PCI bus *bus*: the alias of the PCI controller with that index.

        :raises InternalError: when no such controller exists (placement bug).
        """
        ctl = self.controller(ControllerType.PCI, bus)
        if ctl is not None and ctl.alias:
            return ctl.alias
        if bus == 0:  # the root bus exists even when the definition omits its controller
            return "pcie.0" if self.is_q35 else "pci.0"
        raise InternalError(f"Could not find PCI controller with index '{bus}' required "
                            f"for device at address '0000:{bus:02x}'")

    def pci_props(self, address: Address | None, what: str) -> PropList:
        """``bus``, ``multifunction``, ``addr`` of a PCI device (nothing when unplaced:
        QEMU then picks a slot itself).

        :raises ConfigUnsupportedError: for a non-PCI address or a PCI domain other than 0.
        :raises InternalError: when the address names a bus that does not exist.
        """
        if address is None:
            return []
        if not isinstance(address, PciAddress):
            raise ConfigUnsupportedError(f"{what} needs a PCI address, not a drive address")
        if address.domain != 0:
            raise ConfigUnsupportedError("Only PCI device addresses with domain=0 are "
                                         "supported")
        addr = f"0x{address.slot:x}"
        if address.function:
            addr += f".0x{address.function:x}"
        return [("bus", self.pci_bus_alias(address.bus)),
                ("multifunction", address.multifunction),
                ("addr", addr)]


def rom_props(rom: Rom | None) -> PropList:
    """``rombar``/``romfile`` as libvirt orders them; ``enabled='no'`` is an empty file."""
    if rom is None:
        return []
    if rom.enabled is False:
        return [("romfile", "")]
    rombar = None if rom.bar is None else int(rom.bar)
    return [("rombar", rombar), ("romfile", rom.file)]
