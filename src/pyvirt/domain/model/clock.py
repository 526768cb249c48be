"""``<clock>``: the offset and its ``<timer>`` elements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyvirt.domain.xml.util import Element
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.xmlspec.codecs import TEXT, YES_NO, checked
from pyvirt.xmlspec.fields import attr as item

# Every timer libvirt knows; pyvirt runs the three that x86 guests set in everyday XML.
LIBVIRT_TIMERS = frozenset({"platform", "pit", "rtc", "hpet", "tsc", "kvmclock",
                            "hypervclock", "armvtimer"})
SUPPORTED_TIMERS = ("rtc", "pit", "hpet")
TICK_POLICIES = ("delay", "catchup", "merge", "discard")


def _choice(what: str, known: frozenset[str] | tuple[str, ...],
            supported: tuple[str, ...] | None = None) -> Any:
    def check(value: str, el: Element) -> str:
        if value not in known:
            raise ConfigUnsupportedError(f"unknown {what} '{value}'")
        if supported is not None and value not in supported:
            raise ConfigUnsupportedError(f"{what} '{value}' is not supported by pyvirt")
        return value
    return checked(TEXT, check, supported or tuple(sorted(known)))


@dataclass(frozen=True)
class Timer:
    """``<timer name present tickpolicy track>`` (libvirt's attribute order)."""

    name: str = item("@name", _choice("timer", LIBVIRT_TIMERS, SUPPORTED_TIMERS),
                     required=True)
    present: bool | None = item("@present", YES_NO)
    tickpolicy: str | None = item("@tickpolicy", _choice("timer tickpolicy", TICK_POLICIES))
    track: str | None = item("@track", _choice("timer track", ("boot", "guest", "wall")))

    def xml_check(self, el: Element) -> None:
        """QEMU's limits, with libvirt's messages where it has them."""
        if self.name == "rtc":
            if self.tickpolicy not in (None, "delay", "catchup"):
                raise ConfigUnsupportedError(
                    f"unsupported rtc timer tickpolicy '{self.tickpolicy}'")
            if self.present is False:
                raise ConfigUnsupportedError("timer 'rtc' present='no' is not supported by "
                                             "pyvirt")
        elif self.name == "pit":
            if self.tickpolicy == "merge":
                raise ConfigUnsupportedError("unsupported pit tickpolicy 'merge'")
            if self.present is False:
                raise ConfigUnsupportedError("timer 'pit' present='no' is not supported by "
                                             "pyvirt")
        if self.track is not None and self.name != "rtc":
            raise ConfigUnsupportedError(f"timer '{self.name}' track is not supported by "
                                         "pyvirt")
        if self.name == "hpet" and self.tickpolicy is not None:
            raise ConfigUnsupportedError("timer 'hpet' tickpolicy is not supported by pyvirt")
        if self.track == "boot":
            raise ConfigUnsupportedError("timer 'rtc' track 'boot' is not supported by pyvirt")
