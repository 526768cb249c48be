"""Encoding of QEMU option values: JSON objects and ``key=value`` lists.

Every user-supplied string that reaches the command line goes through one of these
functions, which is what makes option injection impossible:

* JSON (``-device``, ``-netdev``, ``-blockdev``, ``-object``, ``-audiodev``) is produced by
  :func:`json.dumps` from ordered properties, never by string concatenation, so a value
  can never end a string or open a new key.
* keyval options (``-name``, ``-chardev``, ``-vnc`` ...) double every ``,`` inside a value,
  which QEMU's option parser reads back as a literal comma. A value may contain ``=``
  freely (only the first ``=`` of an item separates key and value). The one place where
  ``=`` matters is an *implied* first item without a key (``-machine q35``); such values
  are checked by :func:`check_token` instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import Enum
from typing import TypeAlias

from pyvirt.errors import ConfigUnsupportedError


class _JsonNull(Enum):
    """An explicit JSON ``null`` (``None`` means "property absent")."""

    NULL = "null"


JSON_NULL = _JsonNull.NULL

JsonValue: TypeAlias = "str | int | bool | _JsonNull | Mapping[str, JsonValue] | None"
Props: TypeAlias = dict[str, "str | int | bool | Props | None"]
KeyvalValue: TypeAlias = str | int | bool | None

_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def props(*pairs: tuple[str, JsonValue]) -> Props:
    """Ordered properties from ``(key, value)`` pairs, in the order given.

    A ``None`` value is skipped, which is how libvirt treats an absent optional property;
    :data:`JSON_NULL` becomes a JSON ``null``. Nested mappings keep their order too.

    :raises ValueError: when a key repeats (a builder bug, never user input).
    """
    result: Props = {}
    for key, value in pairs:
        if value is None:
            continue
        if key in result:
            raise ValueError(f"property '{key}' given twice")
        result[key] = _convert(value)
    return result


def _convert(value: JsonValue) -> str | int | bool | Props | None:
    if value is JSON_NULL:
        return None
    if isinstance(value, Mapping):
        return props(*value.items())
    assert not isinstance(value, _JsonNull)  # handled above; narrows for mypy
    return value


def to_json(value: Props) -> str:
    """Compact JSON with keys in insertion order, as libvirt prints it.

    Non-ASCII text stays UTF-8 (libvirt does not escape it either); QEMU reads both.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def escape_comma(value: str) -> str:
    """A keyval value with every ``,`` doubled, so QEMU reads it as one value."""
    return value.replace(",", ",,")


def keyval(head: str | None, *pairs: tuple[str, KeyvalValue]) -> str:
    """``head,key=value,...`` with values comma-escaped; ``None`` values are skipped.

    *head* is written verbatim and must be a constant or a value already checked with
    :func:`check_token`. Booleans become ``on``/``off``.
    """
    items = [] if head is None else [head]
    for key, value in pairs:
        if value is None:
            continue
        if isinstance(value, bool):
            value = "on" if value else "off"
        items.append(f"{key}={escape_comma(str(value))}")
    return ",".join(items)


def check_token(value: str, what: str) -> str:
    """Return *value* when it is safe as an implied (key-less) option value.

    Such values are machine types, CPU models and the like: QEMU would read an ``=`` in
    them as a key, and some parsers (``-cpu``) do not honour ``,,``.

    :raises ConfigUnsupportedError: when *value* is not ``[A-Za-z0-9][A-Za-z0-9._-]*``.
    """
    if not _TOKEN.match(value):
        raise ConfigUnsupportedError(f"invalid {what} '{value}': only letters, digits, "
                                     "'.', '_' and '-' are allowed")
    return value
