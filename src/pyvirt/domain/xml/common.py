"""``<rom>``."""

from __future__ import annotations

from pyvirt.domain.model.common import Rom
from pyvirt.domain.xml.util import Element, attr, make, on_off, on_off_attr, yes_no, yes_no_attr


def parse_rom(parent: Element) -> Rom | None:
    el = parent.find("rom")
    if el is None:
        return None
    return Rom(bar=on_off_attr(el, "bar"), file=attr(el, "file"),
               enabled=yes_no_attr(el, "enabled"))


def format_rom(rom: Rom | None) -> Element | None:
    if rom is None:
        return None
    return make("rom", [
        ("enabled", None if rom.enabled is None else yes_no(rom.enabled)),
        ("bar", None if rom.bar is None else on_off(rom.bar)),
        ("file", rom.file),
    ])
