"""``<serial>`` and ``<console>``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyvirt.types import Address


class CharType(StrEnum):
    PTY = "pty"
    FILE = "file"
    UNIX = "unix"


@dataclass(frozen=True)
class CharDevice:
    """A serial port or console. ``path``/``append`` for file, ``path``/``mode`` for unix
    (mode ``bind`` = QEMU listens); ``target_type`` is e.g. ``isa-serial`` or ``serial``."""

    type: CharType
    path: str | None = None
    append: bool | None = None
    mode: str | None = None
    target_type: str | None = None
    target_port: int | None = None
    log_file: str | None = None
    log_append: bool | None = None
    alias: str | None = None
    address: Address | None = None
