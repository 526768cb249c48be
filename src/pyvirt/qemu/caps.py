"""What a QEMU binary can do: probed once over QMP, cached on disk, loadable from JSON.

:func:`pyvirt.qemu.probe.probe` launches the binary once, without a guest (``-machine
none``), and asks it for its version, machine types, KVM support and the properties of
every device type in :data:`PROBED_DEVICES`. :class:`CapsCache` keeps the answer per
binary, keyed by the binary's real path, size and mtime, so later lookups launch nothing
(and import neither asyncio nor qemu.qmp). The command builder
and QEMU-specific validation only ever see a :class:`QemuCaps`, which golden tests load
from recorded JSON fixtures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from pyvirt.errors import ProcessError, SystemCallError
from pyvirt.qmp.models import MachineInfo
from pyvirt.store.atomic import ensure_dir

_log = logging.getLogger(__name__)

#: Device types whose properties are probed: everything the command builder may emit.
PROBED_DEVICES: tuple[str, ...] = (
    "virtio-net-pci", "vfio-pci", "e1000e", "igb", "e1000", "rtl8139",
    "virtio-blk-pci", "virtio-scsi-pci", "scsi-hd", "scsi-cd", "ide-hd", "ide-cd",
    "pcie-root-port", "pcie-pci-bridge", "pci-bridge",
    "qemu-xhci", "piix3-usb-uhci", "usb-tablet", "usb-kbd", "usb-mouse",
    "virtio-tablet-pci", "virtio-keyboard-pci", "virtio-mouse-pci",
    "virtio-balloon-pci", "virtio-rng-pci", "isa-serial",
)

#: Bumped whenever the JSON layout changes; files in another format are re-probed.
CAPS_FORMAT = 1

_KVM_DEVICE = "/dev/kvm"


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
        return json.dumps(_caps_to_obj(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> QemuCaps:
        """Parse :meth:`to_json` output.

        :raises ValueError: when *text* is not JSON of the expected shape and format.
        """
        return _caps_from_obj(json.loads(text))


# --- JSON mapping ----------------------------------------------------------------------


def _caps_to_obj(caps: QemuCaps) -> dict[str, object]:
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


def _caps_from_obj(obj: object) -> QemuCaps:
    """:raises ValueError: on any deviation from the layout of :func:`_caps_to_obj`."""
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


# --- probing ---------------------------------------------------------------------------


def kvm_accessible() -> bool:
    """True when this process may open /dev/kvm read-write (a host fact, re-read each call)."""
    return os.access(_KVM_DEVICE, os.R_OK | os.W_OK)


# --- cache -----------------------------------------------------------------------------

#: Probes a binary; :class:`CapsCache` takes one so tests can count or fake launches.
Prober = Callable[[str], QemuCaps]


class CapsCache:
    """Capabilities per binary, persisted as one JSON file per binary in *cache_dir*.

    An entry is valid while the binary's real path, size and mtime (ns) and the probed
    device list are unchanged; a hit reads one small file and launches nothing. Host
    facts such as ``kvm_present`` are not part of the key: they are as of the probe.
    A missing, stale, unreadable or corrupt entry is re-probed and rewritten atomically.
    ``probe_count`` counts prober calls made by this instance.

    Synchronous on purpose (the default prober runs its own event loop); async callers
    use ``await asyncio.to_thread(cache.lookup, binary)``.
    """

    def __init__(self, cache_dir: Path, prober: Prober | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self._prober = prober
        self.probe_count = 0

    def lookup(self, binary: str) -> QemuCaps:
        """The capabilities of *binary*, from the cache or by probing it.

        The returned ``binary`` is *binary* as given, even when the entry was recorded
        under another path to the same file. Failing to write the cache only logs a
        warning: the probed answer is still correct.

        :raises ProcessError: when the binary does not exist or cannot be probed.
        """
        real = os.path.realpath(binary)
        try:
            st = os.stat(real)
        except OSError as err:
            raise ProcessError(f"Failed to probe capabilities for {binary}: "
                               f"{err.strerror or err}", (binary,)) from err
        # Taken before probing: if the binary is replaced meanwhile, the entry is stale at
        # once and the next lookup probes again. PROBED_DEVICES is part of the key so that
        # extending it invalidates old entries without anyone remembering to.
        key = {"path": real, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
               "probed": list(PROBED_DEVICES)}
        entry = self.entry_path(real)
        cached = self._read(entry, key)
        if cached is not None:
            return cached if cached.binary == binary else dataclasses.replace(cached,
                                                                              binary=binary)
        self.probe_count += 1
        caps = self._probe(binary)
        try:
            self._write(entry, key, caps)
        except (OSError, SystemCallError) as err:
            _log.warning("cannot write QEMU capabilities cache %s: %s", entry, err)
        return caps

    def _probe(self, binary: str) -> QemuCaps:
        if self._prober is not None:
            return self._prober(binary)
        from pyvirt.qemu.probe import probe_sync  # only on a miss: asyncio + qemu.qmp

        return probe_sync(binary)

    def entry_path(self, binary: str) -> Path:
        """The cache file for *binary* (name = basename + hash of its real path)."""
        real = os.path.realpath(binary)
        digest = hashlib.sha256(real.encode()).hexdigest()[:16]
        return self.cache_dir / f"{os.path.basename(real)}-{digest}.json"

    @staticmethod
    def _read(entry: Path, key: Mapping[str, object]) -> QemuCaps | None:
        """The cached caps when *entry* holds valid data for *key*; None otherwise."""
        try:
            document = json.loads(entry.read_bytes())
            if not isinstance(document, dict) or document.get("key") != key:
                return None
            return _caps_from_obj(document.get("caps"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:  # corrupt or unreadable: probe again
            _log.info("ignoring QEMU capabilities cache %s: %s", entry, err)
            return None

    def _write(self, entry: Path, key: Mapping[str, object], caps: QemuCaps) -> None:
        """Write *entry* atomically (temp file in the same dir, fsync, rename), mode 0600.

        :raises OSError: when the directory or file cannot be written.
        """
        ensure_dir(self.cache_dir)  # 0700, parents included
        document = {"key": dict(key), "caps": _caps_to_obj(caps)}
        data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as out:  # mkstemp creates the file 0600
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, entry)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.cache_dir)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in *directory* durable; best effort (some filesystems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
