"""Decoding a QEMU command line the way QEMU reads it, to prove nothing was injected.

JSON option values (``-device '{...}'``) are parsed with :func:`json.loads`; keyval ones
(``-chardev file,id=x,path=...``) are split like QEMU's option parser: items at single
commas, ``,,`` a literal comma, key and value at the first ``=``. The *shape* of a command
line is its option names and keys with every value blanked: a value that injected an
option, a key or a JSON member changes the shape.
"""

from __future__ import annotations

import json
from typing import Any

from pyvirt.qemu.command.env import QemuCommand

JSON_OPTIONS = frozenset({"-device", "-netdev", "-blockdev", "-object", "-audiodev"})
KEYVAL_OPTIONS = frozenset({"-name", "-machine", "-chardev", "-mon", "-smp", "-rtc", "-boot",
                            "-overcommit", "-vnc", "-sandbox", "-msg"})


def keyval_items(value: str) -> list[tuple[str | None, str]]:
    """``a,b=c,,d`` -> ``[(None, 'a'), ('b', 'c,d')]``."""
    items, current, i = [], "", 0
    while i < len(value):
        if value[i] == ",":
            if value[i + 1:i + 2] == ",":
                current += ","
                i += 2
                continue
            items.append(current)
            current = ""
        else:
            current += value[i]
        i += 1
    items.append(current)
    decoded: list[tuple[str | None, str]] = []
    for item in items:
        key, eq, val = item.partition("=")
        decoded.append((key, val) if eq else (None, item))
    return decoded


def decode(argv: tuple[str, ...]) -> list[tuple[str, Any]]:
    """(option, decoded value) for every option of *argv* (binary excluded)."""
    decoded: list[tuple[str, Any]] = []
    for group in QemuCommand(argv).option_lines()[1:]:
        option, value = group[0], group[1] if len(group) > 1 else None
        if value is not None and option in JSON_OPTIONS:
            parsed = json.loads(value)
            assert isinstance(parsed, dict), value
            decoded.append((option, parsed))
        elif value is not None and option in KEYVAL_OPTIONS:
            decoded.append((option, keyval_items(value)))
        else:
            decoded.append((option, value))
    return decoded


def _blank(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _blank(v) for k, v in value.items()}
    if isinstance(value, list):
        return [(k, "·") for k, _v in value]
    return "·" if isinstance(value, str) else value


def shape(argv: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [(option, _blank(value)) for option, value in decode(argv)]


def leaves(argv: tuple[str, ...]) -> list[str]:
    """Every value QEMU will see, decoded."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            found.extend(v for _k, v in value)
        elif isinstance(value, str):
            found.append(value)

    for _option, value in decode(argv):
        walk(value)
    return found
