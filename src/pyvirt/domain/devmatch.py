"""Which device of a domain a hot-plug request means (pure).

libvirt's ``virDomainNetFindIdx`` matches an ``<interface>`` by MAC, guest PCI address
and alias, and fails when more than one interface fits. The two members of a teaming
pair share their MAC, so a request naming only the MAC is always ambiguous for them: the
refusal keeps libvirt's message and adds which devices share the MAC and how to name one
(reference G, "identify the device by alias or PCI address, not MAC").

pyvirt adds two criteria libvirt lacks: the host address (``<source><address>``) of an
``<interface type='hostdev'>``, and, for ``<hostdev>`` requests, interfaces of type
hostdev (libvirt finds those through its merged hostdev list).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pyvirt.domain.device import Device, DeviceMissingError, OtherDevice
from pyvirt.domain.model import (
    Domain,
    Hostdev,
    Interface,
    PciHostdev,
    PersistentTeaming,
    TransientTeaming,
    UsbHostdev,
)
from pyvirt.errors import (
    InternalError,
    OperationFailedError,
    OperationUnsupportedError,
    ParseError,
)
from pyvirt.types import Address, MacAddress, PciAddress

Kind = Literal["interface", "hostdev"]


@dataclass(frozen=True, order=True)
class Found:
    """A device of a domain: its list and its position there."""

    kind: Kind
    index: int


def device_at(domain: Domain, found: Found) -> Interface | Hostdev:
    if found.kind == "interface":
        return domain.devices.interfaces[found.index]
    return domain.devices.hostdevs[found.index]


def same_pci(a: Address | None, b: Address | None) -> bool:
    """True when both are PCI addresses naming the same function (multifunction aside)."""
    return (isinstance(a, PciAddress) and isinstance(b, PciAddress)
            and a.without_multifunction() == b.without_multifunction())


def _names(domain: Domain, found: list[Found]) -> str:
    names = []
    for f in found:
        dev = device_at(domain, f)
        names.append(f"'{dev.alias}'" if dev.alias else f"{f.kind} #{f.index + 1}")
    return " and ".join(names)


def _ambiguous(domain: Domain, mac: MacAddress | None, found: list[Found]) -> OperationFailedError:
    """libvirt's refusal, plus the devices involved and how to name one of them."""
    if mac is None:
        return OperationFailedError(
            f"multiple matching devices found ({_names(domain, found)}); name the device by "
            "its <alias name='...'/> or its PCI <address>")
    teamed = all(isinstance(device_at(domain, f), Interface)
                 and getattr(device_at(domain, f), "teaming", None) is not None for f in found)
    who = f"the teaming pair {_names(domain, found)} shares" if teamed \
        else f"{_names(domain, found)} share"
    example = next((device_at(domain, f).alias for f in reversed(found)
                    if device_at(domain, f).alias), "ALIAS")
    return OperationFailedError(
        f"multiple devices matching MAC address {mac} found: {who} it; name the device by "
        f"its alias instead (<alias name='{example}'/> in the device XML, or "
        f"detach-device-alias {domain.name} {example})")


def _missing(address: Address | None, mac: MacAddress | None, alias: str | None,
             source: PciAddress | None = None) -> DeviceMissingError:
    at = f" at address '{address}'" if isinstance(address, PciAddress) else ""
    what = [f"MAC address '{mac}'" if mac else "", f"host address '{source}'" if source else "",
            f"alias '{alias}'" if alias else ""]
    matching = " and ".join(w for w in what if w)
    if not at and not matching:
        return DeviceMissingError("no matching device found")
    return DeviceMissingError(f"no device found{at}" + (f" matching {matching}" if matching
                                                      else ""))


def _fits(dev: Interface | Hostdev, *, address: Address | None, alias: str | None) -> bool:
    if isinstance(address, PciAddress) and not same_pci(dev.address if not isinstance(
            dev, UsbHostdev) else None, address):
        return False
    return not (alias and dev.alias != alias)


def find_interface(domain: Domain, spec: Interface) -> Found:
    """The one interface *spec* names by MAC, guest PCI address, alias or VF address.

    :raises OperationFailedError: when several fit (libvirt's message, with a hint).
    :raises DeviceMissingError: when none does.
    """
    source = spec.vf
    found = [
        Found("interface", i) for i, nic in enumerate(domain.devices.interfaces)
        if (spec.mac is None or nic.mac == spec.mac)
        and (source is None or nic.vf == source)
        and _fits(nic, address=spec.address, alias=spec.alias)
    ]
    if len(found) > 1:
        raise _ambiguous(domain, spec.mac, found)
    if not found:
        raise _missing(spec.address, spec.mac, spec.alias, source)
    return found[0]


def find_hostdev(domain: Domain, spec: Hostdev) -> Found:
    """The one PCI host device *spec* names by host address, guest address or alias;
    ``<interface type='hostdev'>`` members count too.

    :raises OperationUnsupportedError: for a USB host device.
    :raises OperationFailedError: when several fit.
    :raises DeviceMissingError: when none does (libvirt's ``host pci device ... not found``).
    """
    if isinstance(spec, UsbHostdev):
        raise OperationUnsupportedError("USB host device assignment is not supported by pyvirt")
    found = [Found("hostdev", i) for i, dev in enumerate(domain.devices.hostdevs)
             if isinstance(dev, PciHostdev) and dev.source == spec.source
             and _fits(dev, address=spec.address, alias=spec.alias)]
    found += [Found("interface", i) for i, nic in enumerate(domain.devices.interfaces)
              if nic.vf is not None and nic.vf == spec.source
              and _fits(nic, address=spec.address, alias=spec.alias)]
    if len(found) > 1:
        raise _ambiguous(domain, None, found)
    if not found:
        if spec.address is None and spec.alias is None:
            raise DeviceMissingError(f"host pci device {spec.source} not found")
        raise _missing(spec.address, None, spec.alias, spec.source)
    return found[0]


def find_device(domain: Domain, spec: Device, action: str) -> Found:
    """The device *spec* names; *action* words the refusal of other device kinds
    (``live detach``, ``persistent update`` ...).

    :raises OperationUnsupportedError: for devices pyvirt cannot hot-plug.
    :raises OperationFailedError: when several devices fit.
    :raises DeviceMissingError: when none does.
    """
    if isinstance(spec, OtherDevice):
        raise OperationUnsupportedError(f"{action} of device '{spec.kind}' is not supported")
    if isinstance(spec, Interface):
        return find_interface(domain, spec)
    return find_hostdev(domain, spec)


def find_alias(domain: Domain, alias: str, action: str) -> Found:
    """The device whose alias is *alias*.

    :raises InternalError: libvirt's ``no device found with alias X``.
    :raises OperationUnsupportedError: when the alias names a device that is neither an
        interface nor a host device.
    """
    for i, nic in enumerate(domain.devices.interfaces):
        if nic.alias == alias:
            return Found("interface", i)
    for i, dev in enumerate(domain.devices.hostdevs):
        if dev.alias == alias:
            return Found("hostdev", i)
    for other, device in domain.aliased_devices():
        if other == alias:
            kind = type(device).__name__.lower()
            raise OperationUnsupportedError(f"{action} of device '{kind}' is not supported")
    raise InternalError(f"no device found with alias {alias}")


def find_link_target(domain: Domain, iface: str) -> Found:
    """``domif-setlink``'s IFACE: an alias, a target device name or a MAC address.

    :raises OperationFailedError: when a MAC names several interfaces (a teaming pair).
    :raises DeviceMissingError: when nothing matches.
    """
    nics = domain.devices.interfaces
    hits = [i for i, nic in enumerate(nics) if nic.alias == iface] or \
        [i for i, nic in enumerate(nics) if nic.target_dev == iface]
    if hits:
        return Found("interface", hits[0])
    try:
        mac: MacAddress | None = MacAddress.parse(iface)
    except ParseError:
        mac = None
    found = [Found("interface", i) for i, nic in enumerate(nics) if mac and nic.mac == mac]
    if len(found) > 1:
        raise _ambiguous(domain, mac, found)
    if not found:
        raise DeviceMissingError(f"no interface matching '{iface}' (alias, target device or "
                                 "MAC address)")
    return found[0]


def transient_partners(domain: Domain, persistent_alias: str) -> list[Found]:
    """The transient members (interfaces and hostdevs) that name *persistent_alias*."""
    found = [Found("interface", i) for i, nic in enumerate(domain.devices.interfaces)
             if isinstance(nic.teaming, TransientTeaming)
             and nic.teaming.persistent == persistent_alias]
    found += [Found("hostdev", i) for i, dev in enumerate(domain.devices.hostdevs)
              if isinstance(dev, PciHostdev) and dev.teaming is not None
              and dev.teaming.persistent == persistent_alias]
    return found


def is_persistent_member(dev: Interface | Hostdev) -> bool:
    return isinstance(dev, Interface) and isinstance(dev.teaming, PersistentTeaming)


def is_transient_member(dev: Interface | Hostdev) -> bool:
    if isinstance(dev, Interface):
        return isinstance(dev.teaming, TransientTeaming)
    return isinstance(dev, PciHostdev) and dev.teaming is not None
