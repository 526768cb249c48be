"""Small pieces shared by several device types."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rom:
    """``<rom bar='on|off' file='...' enabled='yes|no'/>``."""

    bar: bool | None = None
    file: str | None = None
    enabled: bool | None = None
