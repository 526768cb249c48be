"""VFIO PCI host devices: first every ``<interface type='hostdev'>`` in interface order,
then every ``<hostdev>`` in document order (libvirt's ``def->hostdevs`` order).

A transient teaming member gets ``failover_pair_id``; QEMU then keeps the device hidden
until the guest's virtio-net driver negotiates failover on the named standby.
"""

from __future__ import annotations

from pyvirt.domain.model import (
    HostdevSource,
    Interface,
    InterfaceType,
    Rom,
    TransientTeaming,
    UsbHostdev,
)
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.qemu.command.context import BuildContext, rom_props
from pyvirt.qemu.command.props import props, to_json
from pyvirt.types import Address, PciAddress


def _vfio(ctx: BuildContext, *, source: PciAddress, alias: str | None, driver: str | None,
          boot: int | None, teaming: TransientTeaming | None, rom: Rom | None,
          address: Address | None) -> str:
    """:raises ConfigUnsupportedError: for a non-VFIO driver or missing failover support."""
    if driver not in (None, "vfio"):
        raise ConfigUnsupportedError(f"host device driver '{driver}' is not supported; "
                                     "only 'vfio' is")
    pair = teaming.persistent if teaming is not None else None
    if pair is not None and not ctx.caps.has_device_prop("vfio-pci", "failover_pair_id"):
        raise ConfigUnsupportedError("virtio-net failover (teaming) is not supported with "
                                     "this QEMU binary")
    return to_json(props(
        ("driver", "vfio-pci"), ("host", source.host_string), ("id", alias),
        ("bootindex", boot), ("failover_pair_id", pair),
        *ctx.pci_props(address, f"host device '{alias}'"), *rom_props(rom)))


def _interface_device(ctx: BuildContext, iface: Interface) -> str:
    source = iface.source
    if not isinstance(source, HostdevSource):
        raise ConfigUnsupportedError("Missing <source> element in hostdev interface")
    teaming = iface.teaming if isinstance(iface.teaming, TransientTeaming) else None
    return _vfio(ctx, source=source.address, alias=iface.alias,
                 driver=source.driver, boot=iface.boot, teaming=teaming,
                 rom=iface.rom, address=iface.address)


def hostdev_args(ctx: BuildContext) -> list[str]:
    """``-device vfio-pci`` lines.

    :raises ConfigUnsupportedError: for USB host devices or a non-VFIO driver.
    """
    args: list[str] = []
    for iface in ctx.domain.devices.interfaces:
        if iface.type is InterfaceType.HOSTDEV:
            args += ["-device", _interface_device(ctx, iface)]
    for dev in ctx.domain.devices.hostdevs:
        if isinstance(dev, UsbHostdev):
            raise ConfigUnsupportedError("USB host device assignment is not supported by "
                                         "pyvirt")
        args += ["-device", _vfio(ctx, source=dev.source, alias=dev.alias, driver=dev.driver,
                                  boot=dev.boot, teaming=dev.teaming, rom=dev.rom,
                                  address=dev.address)]
    return args
