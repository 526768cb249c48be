"""What a QEMU binary can do, as a value: :class:`QemuCaps` and its JSON form.

The command builder and QEMU-specific validation only ever see a :class:`QemuCaps`;
golden tests load them from recorded JSON fixtures. Getting one for a real binary is I/O
and lives above: :mod:`pyvirt.runtime.probe` launches the binary once, without a guest
(``-machine none``), and asks it over QMP for its version, machine types, KVM support and
the properties of every device type in :data:`PROBED_DEVICES`;
:mod:`pyvirt.runtime.capscache` keeps the answer on disk per binary. This module does no
I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: Device types whose properties are probed: everything the command builder may emit.
PROBED_DEVICES: tuple[str, ...] = (
    "virtio-net-pci", "vfio-pci", "e1000e", "igb", "e1000", "rtl8139",
    "virtio-blk-pci", "virtio-scsi-pci", "scsi-hd", "scsi-cd", "ide-hd", "ide-cd",
    "pcie-root-port", "pcie-pci-bridge", "pci-bridge",
    "qemu-xhci", "piix3-usb-uhci", "usb-tablet", "usb-kbd", "usb-mouse",
    "virtio-tablet-pci", "virtio-keyboard-pci", "virtio-mouse-pci",
    "virtio-balloon-pci", "virtio-rng-pci", "isa-serial",
    "virtio-serial-pci", "virtserialport", "virtio-vga", "virtio-gpu-pci",
)

#: Bumped whenever the JSON layout changes; files in another format are re-probed.
CAPS_FORMAT = 1


@dataclass(frozen=True)
class MachineInfo:
    """One machine type of a binary (an entry of QMP's ``query-machines``).

    ``alias`` is the short name (``q35``, ``pc``) that points at the newest versioned
    machine; ``is_default`` marks the machine QEMU uses without ``-machine``.
    """

    name: str
    alias: str | None = None
    is_default: bool = False


@dataclass(frozen=True)
class QemuCaps:
    """The capabilities of one QEMU binary.

    ``kvm_present`` is True when this binary could enable KVM on the probing host (the
    probe asked for it and QEMU reported it enabled); it is a fact about the host at probe
    time, not a policy. ``device_props`` holds only device types that exist in the
    binary. Instances are normalised (machines sorted by name, read-only mapping) so
    that equal capabilities compare equal and serialise identically.
    """

    binary: str
    version: tuple[int, int, int]
    kvm_present: bool
    machines: tuple[MachineInfo, ...]
    device_props: Mapping[str, frozenset[str]] = field(hash=False)

    def __post_init__(self) -> None:
        # object.__setattr__ is the documented way to normalise a frozen dataclass
        object.__setattr__(self, "version", tuple(self.version))
        object.__setattr__(self, "machines", tuple(sorted(self.machines, key=lambda m: m.name)))
        frozen = {name: frozenset(props) for name, props in sorted(self.device_props.items())}
        object.__setattr__(self, "device_props", MappingProxyType(frozen))

    def has_device(self, typename: str) -> bool:
        """True when the binary has device type *typename* (and it was probed)."""
        return typename in self.device_props

    def has_device_prop(self, typename: str, prop: str) -> bool:
        """True when device type *typename* exists and has property *prop*."""
        return prop in self.device_props.get(typename, frozenset())

    def resolve_machine(self, name: str) -> str | None:
        """The canonical machine name for *name* (``q35`` -> ``pc-q35-7.2``), *name* itself
        when it already is canonical, None when this binary does not know it."""
        for machine in self.machines:
            if name in (machine.name, machine.alias):
                return machine.name
        return None

    def machine_is_q35(self, name: str) -> bool:
        """True for ``q35`` and ``pc-q35-*`` (by name; does not check the machine exists)."""
        canonical = self.resolve_machine(name) or name
        return canonical == "q35" or canonical.startswith("pc-q35-")

    def is_pcie_machine(self, name: str) -> bool:
        """True when the machine's root bus is PCI Express (on x86: the q35 family)."""
        return self.machine_is_q35(name)

    @property
    def supports_failover(self) -> bool:
        """virtio-net failover: the standby needs ``failover``, the primary
        ``failover_pair_id`` (checked on vfio-pci, the primary libvirt emits)."""
        return (self.has_device_prop("virtio-net-pci", "failover")
                and self.has_device_prop("vfio-pci", "failover_pair_id"))

    def to_json(self) -> str:
        """Stable, sorted, indented JSON (ending in a newline) that :meth:`from_json` reads."""
        return json.dumps(caps_to_obj(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> QemuCaps:
        """Parse :meth:`to_json` output.

        :raises ValueError: when *text* is not JSON of the expected shape and format.
        """
        return caps_from_obj(json.loads(text))


# --- JSON mapping ----------------------------------------------------------------------


def caps_to_obj(caps: QemuCaps) -> dict[str, object]:
    """*caps* as a JSON-ready object (the layout :func:`caps_from_obj` reads)."""
    return {
        "format": CAPS_FORMAT,
        "binary": caps.binary,
        "version": list(caps.version),
        "kvm_present": caps.kvm_present,
        "machines": [{"name": m.name, "alias": m.alias, "is_default": m.is_default}
                     for m in caps.machines],
        "device_props": {name: sorted(props) for name, props in caps.device_props.items()},
    }


def _expect(value: object, kind: type, what: str) -> None:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"capabilities JSON: {what} must be {kind.__name__}")


def caps_from_obj(obj: object) -> QemuCaps:
    """The capabilities *obj* describes.

    :raises ValueError: on any deviation from the layout of :func:`caps_to_obj`.
    """
    if not isinstance(obj, dict):
        raise ValueError("capabilities JSON: top level must be an object")
    if obj.get("format") != CAPS_FORMAT:
        raise ValueError(f"capabilities JSON: format {obj.get('format')!r} is not "
                         f"{CAPS_FORMAT}")
    binary, version, kvm = obj.get("binary"), obj.get("version"), obj.get("kvm_present")
    machines, devices = obj.get("machines"), obj.get("device_props")
    _expect(binary, str, "binary")
    _expect(kvm, bool, "kvm_present")
    if not (isinstance(version, list) and len(version) == 3):
        raise ValueError("capabilities JSON: version must be [major, minor, micro]")
    for number in version:
        _expect(number, int, "a version number")
    _expect(machines, list, "machines")
    _expect(devices, dict, "device_props")
    assert isinstance(machines, list) and isinstance(devices, dict)  # narrowed by _expect
    return QemuCaps(
        binary=str(binary),
        version=(version[0], version[1], version[2]),
        kvm_present=bool(kvm),
        machines=tuple(_machine_from_obj(m) for m in machines),
        device_props={str(name): frozenset(_str_list(props, f"device_props[{name}]"))
                      for name, props in devices.items()},
    )


def _machine_from_obj(obj: object) -> MachineInfo:
    if not isinstance(obj, dict):
        raise ValueError("capabilities JSON: a machine must be an object")
    name, alias, is_default = obj.get("name"), obj.get("alias"), obj.get("is_default")
    _expect(name, str, "machine name")
    if alias is not None:
        _expect(alias, str, "machine alias")
    _expect(is_default, bool, "machine is_default")
    return MachineInfo(str(name), None if alias is None else str(alias), bool(is_default))


def _str_list(value: object, what: str) -> list[str]:
    if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
        raise ValueError(f"capabilities JSON: {what} must be a list of strings")
    return [str(item) for item in value]
