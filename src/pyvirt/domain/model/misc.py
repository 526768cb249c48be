"""Small devices: input, graphics, video, audio, memballoon, rng."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyvirt.types import Address


class InputType(StrEnum):
    MOUSE = "mouse"
    KEYBOARD = "keyboard"
    TABLET = "tablet"


class InputBus(StrEnum):
    PS2 = "ps2"
    USB = "usb"
    VIRTIO = "virtio"


@dataclass(frozen=True)
class Input:
    type: InputType
    bus: InputBus | None = None
    alias: str | None = None
    address: Address | None = None


@dataclass(frozen=True)
class Graphics:
    """``<graphics type='vnc'>``: the only graphics pyvirt drives."""

    type: str = "vnc"
    port: int | None = None
    autoport: bool | None = None
    listen: str | None = None


@dataclass(frozen=True)
class Video:
    model: str = "none"
    alias: str | None = None
    address: Address | None = None


@dataclass(frozen=True)
class Audio:
    id: int
    type: str = "none"


@dataclass(frozen=True)
class Memballoon:
    model: str
    autodeflate: bool | None = None
    stats_period: int | None = None
    alias: str | None = None
    address: Address | None = None


@dataclass(frozen=True)
class Rng:
    model: str = "virtio"
    backend_model: str = "random"
    backend: str | None = None
    rate_bytes: int | None = None
    rate_period: int | None = None
    alias: str | None = None
    address: Address | None = None
