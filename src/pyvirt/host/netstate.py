"""Crash-safe records of what pyvirt changed on the host.

Two kinds of file, each written atomically before the change it describes:

* a **saved VF config** (``<dir>/net/<PF>_vf<N>.json``, libvirt's
  ``<stateDir>/<PF>_vf<N>``): the admin MAC and VLAN the VF had before pyvirt set its
  own. Present from just before the first change until the original is restored, so a
  pyvirt killed in between leaves the way back on disk.
* a **claim** (``<dir>/claims/<addr>.json``): which domain holds a PCI device, whether
  pyvirt moved it to vfio-pci (and from which driver), and the pool it came from.
  Claims are the allocation table of hostdev pools too.
* a **tap record** (``<dir>/taps/<name>.json``): a tap pyvirt is creating or created
  for a domain (bridge and managed ethernet NICs), written before ``TUNSETIFF``; its
  ``ifindex`` once the tap exists, so a later command deletes that tap and never a
  namesake someone else made since.

Files that cannot be read back are ignored (and reported by the caller) rather than
trusted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyvirt.errors import PyvirtError
from pyvirt.store.atomic import remove_file, write_atomic
from pyvirt.store.roots import StateRoot
from pyvirt.types import MacAddress, PciAddress


@dataclass(frozen=True)
class SavedVf:
    """The admin MAC and VLAN VF ``vf`` of ``pf`` had before pyvirt changed them."""

    pf: str
    vf: int
    device: PciAddress
    mac: MacAddress
    vlan: int


@dataclass(frozen=True)
class TapRecord:
    """A tap pyvirt made for ``domain`` (``ifindex`` None: not known to exist yet)."""

    name: str
    domain: str
    bridge: str | None = None
    ifindex: int | None = None


@dataclass(frozen=True)
class Claim:
    """Domain ``domain`` holds ``device``.

    ``managed``: pyvirt bound it to vfio-pci and must give it back to
    ``original_driver`` (None: it had none). ``net``: (PF, VF index) whose admin MAC and
    VLAN pyvirt programs. ``pool``: the hostdev network it was allocated from.
    """

    device: PciAddress
    domain: str
    managed: bool
    original_driver: str | None = None
    net: tuple[str, int] | None = None
    pool: str | None = None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def _json_files(directory: Path) -> list[Path]:
    try:
        return sorted(directory / n for n in os.listdir(directory) if n.endswith(".json"))
    except OSError:
        return []


class HostState:
    """The record directory of one state root (``<run_dir>/hostdev``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def of(cls, root: StateRoot) -> HostState:
        return cls(root.run_dir / "hostdev")

    @property
    def net_dir(self) -> Path:
        return self.directory / "net"

    @property
    def claims_dir(self) -> Path:
        return self.directory / "claims"

    @property
    def taps_dir(self) -> Path:
        return self.directory / "taps"

    def has_records(self) -> bool:
        """True when any claim, saved VF config or tap record exists (cheap: three
        listdirs at most)."""
        return bool(_json_files(self.claims_dir) or _json_files(self.net_dir)
                    or _json_files(self.taps_dir))

    # --- taps -------------------------------------------------------------------------

    def tap_path(self, name: str) -> Path:
        return self.taps_dir / f"{name}.json"

    def write_tap(self, tap: TapRecord) -> None:
        """:raises SystemCallError: on write failure."""
        write_atomic(self.tap_path(tap.name), json.dumps({
            "name": tap.name, "domain": tap.domain, "bridge": tap.bridge,
            "ifindex": tap.ifindex}) + "\n")

    def taps(self) -> list[TapRecord]:
        return [t for t in (_tap_from(_read_json(p)) for p in _json_files(self.taps_dir))
                if t is not None]

    def drop_tap(self, name: str) -> None:
        """:raises SystemCallError: when the record cannot be removed."""
        remove_file(self.tap_path(name))

    # --- saved VF configs -------------------------------------------------------------

    def saved_path(self, pf: str, vf: int) -> Path:
        return self.net_dir / f"{pf}_vf{vf}.json"

    def save_vf(self, saved: SavedVf) -> bool:
        """Record *saved* unless a record for that VF exists (it holds the older, true
        original). Returns True when written. :raises SystemCallError: on write failure."""
        path = self.saved_path(saved.pf, saved.vf)
        if path.exists():
            return False
        write_atomic(path, json.dumps({
            "pf": saved.pf, "vf": saved.vf, "device": saved.device.host_string,
            "mac": str(saved.mac), "vlan": saved.vlan}) + "\n")
        return True

    def load_vf(self, pf: str, vf: int) -> SavedVf | None:
        return _saved_from(_read_json(self.saved_path(pf, vf)))

    def saved_vfs(self) -> list[SavedVf]:
        return [s for s in (_saved_from(_read_json(p)) for p in _json_files(self.net_dir))
                if s is not None]

    def drop_vf(self, pf: str, vf: int) -> None:
        """:raises SystemCallError: when the record cannot be removed."""
        remove_file(self.saved_path(pf, vf))

    # --- claims -----------------------------------------------------------------------

    def claim_path(self, device: PciAddress) -> Path:
        return self.claims_dir / f"{device.host_string}.json"

    def write_claim(self, claim: Claim) -> None:
        """:raises SystemCallError: on write failure."""
        write_atomic(self.claim_path(claim.device), json.dumps({
            "device": claim.device.host_string, "domain": claim.domain,
            "managed": claim.managed, "original_driver": claim.original_driver,
            "net": list(claim.net) if claim.net else None, "pool": claim.pool}) + "\n")

    def claim(self, device: PciAddress) -> Claim | None:
        return _claim_from(_read_json(self.claim_path(device)))

    def claims(self) -> Iterator[Claim]:
        for path in _json_files(self.claims_dir):
            claim = _claim_from(_read_json(path))
            if claim is not None:
                yield claim

    def drop_claim(self, device: PciAddress) -> None:
        """:raises SystemCallError: when the record cannot be removed."""
        remove_file(self.claim_path(device))


def _saved_from(raw: dict[str, Any] | None) -> SavedVf | None:
    if raw is None:
        return None
    try:
        return SavedVf(str(raw["pf"]), int(raw["vf"]),
                       PciAddress.parse_host_string(str(raw["device"])),
                       MacAddress.parse(str(raw["mac"])), int(raw["vlan"]))
    except (KeyError, TypeError, ValueError, PyvirtError):
        return None


def _tap_from(raw: dict[str, Any] | None) -> TapRecord | None:
    if raw is None:
        return None
    try:
        bridge, ifindex = raw.get("bridge"), raw.get("ifindex")
        return TapRecord(str(raw["name"]), str(raw["domain"]),
                         None if bridge is None else str(bridge),
                         None if ifindex is None else int(ifindex))
    except (KeyError, TypeError, ValueError):
        return None


def _claim_from(raw: dict[str, Any] | None) -> Claim | None:
    if raw is None:
        return None
    try:
        net = raw.get("net")
        return Claim(PciAddress.parse_host_string(str(raw["device"])), str(raw["domain"]),
                     bool(raw["managed"]),
                     None if raw.get("original_driver") is None else str(raw["original_driver"]),
                     (str(net[0]), int(net[1])) if net else None,
                     None if raw.get("pool") is None else str(raw["pool"]))
    except (KeyError, TypeError, ValueError, IndexError, PyvirtError):
        return None
