"""Hot-unplug and update planning that does not depend on QEMU (pure).

* Detach: the devices a request names, in unplug order (transient members first), with
  the teaming rule libvirt lacks: the persistent member of a pair may not go while its
  transient partner stays, because QEMU would be left with a primary paired to nothing.
* Update: an interface may only change its link state. A hostdev interface cannot be
  changed at all (libvirt's message), and a teaming change is refused instead of being
  recorded without effect as libvirt does (reference G, gap G13).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace

from pyvirt.domain.device import Device, device_kind
from pyvirt.domain.devmatch import (
    Found,
    device_at,
    find_alias,
    find_device,
    find_interface,
    is_persistent_member,
    is_transient_member,
    transient_partners,
)
from pyvirt.domain.model import Domain, Hostdev, Interface, InterfaceType, LinkState
from pyvirt.errors import OperationInvalidError, OperationUnsupportedError
from pyvirt.types import is_user_alias

DeviceRef = Device | str
"""What a detach request names: a device description, or an alias."""

# Interface fields an update may repeat but not change (link, teaming, and the fields
# that identify the device are handled apart).
_FIXED_FIELDS = tuple(f.name for f in fields(Interface)
                      if f.name not in ("mac", "alias", "address", "link", "teaming"))


@dataclass(frozen=True)
class DetachPlan:
    """The devices to remove, in unplug order, and the definition without them."""

    found: tuple[Found, ...]
    devices: tuple[Interface | Hostdev, ...]
    after: Domain


def without(domain: Domain, found: Iterable[Found]) -> Domain:
    """*domain* minus the given devices."""
    gone = set(found)
    d = domain.devices
    nics = tuple(n for i, n in enumerate(d.interfaces) if Found("interface", i) not in gone)
    devs = tuple(h for i, h in enumerate(d.hostdevs) if Found("hostdev", i) not in gone)
    return replace(domain, devices=replace(d, interfaces=nics, hostdevs=devs))


def member_name(dev: Interface | Hostdev) -> str:
    kind = "interface" if isinstance(dev, Interface) else "hostdev"
    return f"{kind} '{dev.alias}'" if dev.alias else kind


def _locate(domain: Domain, ref: DeviceRef, action: str) -> Found:
    return find_alias(domain, ref, action) if isinstance(ref, str) \
        else find_device(domain, ref, action)


def plan_detach(domain: Domain, refs: Sequence[DeviceRef], action: str) -> DetachPlan:
    """Find every device of the request and order them for unplugging.

    :param action: ``live detach`` or ``persistent detach``, for libvirt's refusals.
    :raises OperationInvalidError: when a persistent member would lose its partner.
    :raises PyvirtError: when a device is not found, or a request is ambiguous
        (see :mod:`pyvirt.domain.devmatch`).
    """
    found: list[Found] = []
    for ref in refs:
        where = _locate(domain, ref, action)
        if where not in found:
            found.append(where)
    for where in found:
        dev = device_at(domain, where)
        if not is_persistent_member(dev) or not dev.alias:
            continue
        staying = [p for p in transient_partners(domain, dev.alias) if p not in found]
        if staying:
            partner = member_name(device_at(domain, staying[0]))
            raise OperationInvalidError(
                f"cannot detach teaming persistent interface '{dev.alias}' while its "
                f"transient partner {partner} is attached: detach the transient member "
                "first, or both in one request (the transient one is unplugged first)")
    ordered = sorted(found, key=lambda f: not is_transient_member(device_at(domain, f)))
    return DetachPlan(tuple(ordered), tuple(device_at(domain, f) for f in ordered),
                      without(domain, ordered))


def counterpart(dev: Interface | Hostdev) -> DeviceRef:
    """How to find a live device in the stored definition: by its user alias, else by
    what survives a restart (MAC, guest and host addresses), never by a runtime alias."""
    if dev.alias and is_user_alias(dev.alias):
        return dev.alias
    return replace(dev, alias=None)


@dataclass(frozen=True)
class LinkChange:
    """An update: the interface's new form, and the link state QEMU must get (None when
    the effective state does not change)."""

    found: Found
    device: Interface
    link_up: bool | None


def _is_up(link: LinkState | None) -> bool:
    return link is not LinkState.DOWN


def plan_update(domain: Domain, spec: Device, action: str) -> LinkChange:
    """What ``update-device`` changes: the link state, nothing else.

    A field the request leaves out keeps its value (libvirt would compare it with its
    default); a missing ``<link>`` means up, as in libvirt.

    :raises OperationUnsupportedError: for anything but a link change of an emulated NIC.
    :raises PyvirtError: when the interface is not found or ambiguous.
    """
    if not isinstance(spec, Interface):
        raise OperationUnsupportedError(f"{action} of device '{device_kind(spec)}' is not "
                                        "supported")
    found = find_interface(domain, spec)
    current = domain.devices.interfaces[found.index]
    name = current.alias or f"#{found.index + 1}"
    if current.type is InterfaceType.HOSTDEV or spec.type is InterfaceType.HOSTDEV:
        raise OperationUnsupportedError("cannot change config of 'hostdev' network interface "
                                        "type")
    if spec.teaming is not None and spec.teaming != current.teaming:
        raise OperationUnsupportedError(
            f"cannot change the teaming of interface '{name}' with update-device: QEMU "
            "cannot re-pair a running NIC (libvirt would record the change without "
            "applying it); detach the member and attach it again")
    for field in _FIXED_FIELDS:
        wanted = getattr(spec, field)
        if wanted is not None and wanted != getattr(current, field):
            label = field.replace("_", " ")
            raise OperationUnsupportedError(
                f"cannot change {label} of interface '{name}' with update-device: only "
                "<link state='up|down'/> can be changed; detach the interface and attach "
                "it again to change anything else")
    changed = _is_up(spec.link) != _is_up(current.link)
    return LinkChange(found, replace(current, link=spec.link),
                      _is_up(spec.link) if changed else None)


def with_link(domain: Domain, change: LinkChange) -> Domain:
    nics = list(domain.devices.interfaces)
    nics[change.found.index] = change.device
    return replace(domain, devices=replace(domain.devices, interfaces=tuple(nics)))
