"""Controllers: PCI topology first (by index), then USB, SCSI, SATA (libvirt's order).

Root buses and the machine's built-in controllers (q35 AHCI ``ide``, i440fx IDE) exist
without any option, so they emit nothing; their aliases are still used as bus names.
"""

from __future__ import annotations

from pyvirt.domain.model import Controller, ControllerType, PciModel
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.qemu.command.context import BuildContext, PropList
from pyvirt.qemu.command.props import props, to_json
from pyvirt.qemu.machine import is_i440fx

_PCI_DRIVERS = {
    PciModel.PCIE_ROOT_PORT.value: "pcie-root-port",
    PciModel.PCIE_TO_PCI_BRIDGE.value: "pcie-pci-bridge",
    PciModel.PCI_BRIDGE.value: "pci-bridge",
}
_ROOTS = frozenset({PciModel.PCIE_ROOT.value, PciModel.PCI_ROOT.value})
_USB_DRIVERS = {"qemu-xhci": "qemu-xhci", "piix3-uhci": "piix3-usb-uhci"}
_ORDER = (ControllerType.USB, ControllerType.SCSI, ControllerType.SATA, ControllerType.IDE,
          ControllerType.VIRTIO_SERIAL)
_XHCI_MODELS = frozenset({"qemu-xhci"})


def _sorted(ctx: BuildContext, kind: ControllerType) -> list[Controller]:
    return sorted((c for c in ctx.domain.devices.controllers if c.type is kind),
                  key=lambda c: c.index)


def _pci_controller(ctx: BuildContext, ctl: Controller) -> PropList | None:
    model = ctl.model or ""
    if model in _ROOTS:
        return None
    driver = ctl.model_name or _PCI_DRIVERS.get(model)
    if driver is None:
        raise ConfigUnsupportedError(f"PCI controller model '{model}' is not supported by "
                                     "pyvirt")
    where = f"controller '{ctl.alias}'"
    if model == PciModel.PCIE_ROOT_PORT.value:
        head: PropList = [("driver", driver), ("port", ctl.port), ("chassis", ctl.chassis)]
    elif model == PciModel.PCI_BRIDGE.value:
        head = [("driver", driver), ("chassis_nr", ctl.chassis if ctl.chassis is not None
                                     else ctl.index)]
    else:
        head = [("driver", driver)]
    return [*head, ("id", ctl.alias), *ctx.pci_props(ctl.address, where)]


def _usb_controller(ctx: BuildContext, ctl: Controller) -> PropList | None:
    model = ctl.model or ("piix3-uhci" if is_i440fx(ctx.domain.os.machine) else "qemu-xhci")
    if model == "none":
        return None
    driver = _USB_DRIVERS.get(model)
    if driver is None:
        raise ConfigUnsupportedError(f"USB controller model '{model}' is not supported by "
                                     "pyvirt")
    if ctl.ports is not None and model not in _XHCI_MODELS:
        raise ConfigUnsupportedError(f"USB controller model '{model}' with ports is not "
                                     "supported by pyvirt")
    return [("driver", driver), ("p2", ctl.ports), ("p3", ctl.ports), ("id", ctl.alias),
            *ctx.pci_props(ctl.address, f"controller '{ctl.alias}'")]


def _virtio_serial_controller(ctx: BuildContext, ctl: Controller) -> PropList:
    return [("driver", "virtio-serial-pci"), ("id", ctl.alias), ("max_ports", ctl.ports),
            ("vectors", ctl.vectors),
            *ctx.pci_props(ctl.address, f"controller '{ctl.alias}'")]


def _scsi_controller(ctx: BuildContext, ctl: Controller) -> PropList:
    model = ctl.model or "virtio-scsi"
    if model != "virtio-scsi":
        raise ConfigUnsupportedError(f"SCSI controller model '{model}' is not supported by "
                                     "pyvirt")
    return [("driver", "virtio-scsi-pci"), ("id", ctl.alias), ("num_queues", ctl.queues),
            *ctx.pci_props(ctl.address, f"controller '{ctl.alias}'")]


def _sata_controller(ctx: BuildContext, ctl: Controller) -> PropList | None:
    if ctl.index == 0 and ctx.is_q35:
        return None  # the ICH9 AHCI function built into q35 at 00:1f.2
    return [("driver", "ich9-ahci"), ("id", ctl.alias),
            *ctx.pci_props(ctl.address, f"controller '{ctl.alias}'")]


def _ide_controller(ctx: BuildContext, ctl: Controller) -> PropList | None:
    if ctl.index == 0 and is_i440fx(ctx.domain.os.machine):
        return None  # PIIX3's IDE function
    raise ConfigUnsupportedError("IDE controllers are unsupported for this QEMU binary or "
                                 "machine type")


def controller_args(ctx: BuildContext) -> list[str]:
    """``-device`` lines of every controller that is not built into the machine.

    :raises ConfigUnsupportedError: for controller models pyvirt cannot run.
    """
    makers = {ControllerType.USB: _usb_controller, ControllerType.SCSI: _scsi_controller,
              ControllerType.SATA: _sata_controller, ControllerType.IDE: _ide_controller,
              ControllerType.VIRTIO_SERIAL: _virtio_serial_controller}
    found = [_pci_controller(ctx, c) for c in _sorted(ctx, ControllerType.PCI)]
    for kind in _ORDER:
        found += [makers[kind](ctx, c) for c in _sorted(ctx, kind)]
    args: list[str] = []
    for pairs in found:
        if pairs is not None:
            args += ["-device", to_json(props(*pairs))]
    return args
