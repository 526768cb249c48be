"""Value types shared by every layer: MAC and PCI addresses, aliases, sizes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyvirt.errors import ConfigUnsupportedError, ParseError

_MAC_RE = re.compile(r"^[0-9A-Fa-f]{1,2}(:[0-9A-Fa-f]{1,2}){5}$")
USER_ALIAS_PREFIX = "ua-"
_USER_ALIAS_RE = re.compile(r"^ua-[A-Za-z0-9_-]+$")


@dataclass(frozen=True, order=True)
class MacAddress:
    """A unicast or multicast Ethernet address, normalised to lower-case ``aa:bb:..``."""

    value: str

    @classmethod
    def parse(cls, text: str) -> MacAddress:
        """:raises ParseError: when *text* is not six colon-separated hex octets."""
        if not _MAC_RE.match(text):
            raise ParseError(f"unable to parse mac address '{text}'")
        return cls(":".join(f"{int(part, 16):02x}" for part in text.split(":")))

    @classmethod
    def from_bytes(cls, octets: bytes) -> MacAddress:
        return cls(":".join(f"{b:02x}" for b in octets))

    @property
    def is_multicast(self) -> bool:
        return bool(int(self.value[:2], 16) & 1)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, order=True)
class PciAddress:
    """A PCI address; ``multifunction`` is None when the XML did not say."""

    domain: int = 0
    bus: int = 0
    slot: int = 0
    function: int = 0
    multifunction: bool | None = None

    def __post_init__(self) -> None:
        limits = (("domain", self.domain, 0xFFFF), ("bus", self.bus, 0xFF),
                  ("slot", self.slot, 0x1F), ("function", self.function, 0x7))
        for name, value, top in limits:
            if not 0 <= value <= top:
                raise ParseError(f"Invalid PCI address {name}='{value:#x}', must be <= {top:#x}")

    @property
    def host_string(self) -> str:
        """``0000:03:07.1``, the form used by sysfs and vfio-pci ``host=``."""
        return f"{self.domain:04x}:{self.bus:02x}:{self.slot:02x}.{self.function:x}"

    @classmethod
    def parse_host_string(cls, text: str) -> PciAddress:
        """Parse ``[DDDD:]BB:SS.F``. :raises ParseError: on anything else."""
        match = re.fullmatch(r"(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})"
                             r"\.([0-7])", text)
        if not match:
            raise ParseError(f"invalid PCI address '{text}'")
        dom, bus, slot, fn = match.groups()
        return cls(int(dom or "0", 16), int(bus, 16), int(slot, 16), int(fn, 16))

    def same_slot(self, other: PciAddress) -> bool:
        return (self.domain, self.bus, self.slot) == (other.domain, other.bus, other.slot)

    def without_multifunction(self) -> PciAddress:
        return PciAddress(self.domain, self.bus, self.slot, self.function)

    def __str__(self) -> str:
        return self.host_string


@dataclass(frozen=True)
class DriveAddress:
    """``<address type='drive'>`` of IDE/SATA/SCSI disks."""

    controller: int = 0
    bus: int = 0
    target: int = 0
    unit: int = 0


Address = PciAddress | DriveAddress


def is_user_alias(name: str) -> bool:
    """True when *name* is a valid user alias (``ua-`` then ``[A-Za-z0-9_-]+``)."""
    return bool(_USER_ALIAS_RE.match(name))


def check_user_alias(name: str, what: str = "alias") -> str:
    """Return *name* when it is a valid user alias.

    libvirt silently drops a bad alias on define, which leaves a teaming pair dangling;
    pyvirt refuses it instead.

    :raises ConfigUnsupportedError: otherwise.
    """
    if not is_user_alias(name):
        raise ConfigUnsupportedError(
            f"{what} '{name}' is not a valid user alias: it must match "
            f"'^ua-[A-Za-z0-9_-]+$'"
        )
    return name


_UNIT_BYTES = {
    "b": 1, "bytes": 1,
    "k": 1024, "kib": 1024, "kb": 1000,
    "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
    "g": 1024**3, "gib": 1024**3, "gb": 1000**3,
    "t": 1024**4, "tib": 1024**4, "tb": 1000**4,
}

MAX_MEMORY_KIB = 1 << 42  # 4 PiB: above anything QEMU accepts, far below any overflow


def size_to_kib(value: str, unit: str | None, what: str = "memory") -> int:
    """Convert a libvirt ``<memory unit=...>`` value to KiB, rounding up.

    :raises ParseError: for a non-integer value, an unknown unit or an absurd size.
    """
    text = value.strip()
    if not re.fullmatch(r"[0-9]{1,30}", text):  # str.isdigit() also takes '²' and '٣'

        raise ParseError(f"Invalid value '{value}' for element or attribute '{what}'")
    factor = _UNIT_BYTES.get((unit or "KiB").lower())
    if factor is None:
        raise ParseError(f"unknown suffix '{unit}'")
    kib = -(-int(text) * factor // 1024)
    if kib > MAX_MEMORY_KIB:
        raise ParseError(f"{what} size '{value}' {unit or 'KiB'} is too large")
    return kib
