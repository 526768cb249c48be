"""The migration control channel: JSON lines between the source pyvirt and a
``pyvirt migrate-agent`` on the destination.

Requests are ``{"op": NAME, "args": {...}}``; answers ``{"ok": true, "result": {...}}``
or ``{"ok": false, "error": ERROR}``, ERROR being :func:`pyvirt.errors.to_wire`'s form
(class and detail), so the source raises the destination's own error class with the same
message. One request at a time; the agent answers each.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from pyvirt.errors import MigrationFailedError, from_wire

PROTOCOL_VERSION = 2  # 2: errors travel as class + detail (1: a bare message)
MAX_LINE = 16 * 1024 * 1024  # a domain XML is at most 10 MiB


def encode(message: Mapping[str, object]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """:raises MigrationFailedError: for anything but one JSON object."""
    try:
        message = json.loads(line)
    except ValueError:
        raise MigrationFailedError(
            f"garbled message on the migration channel: {line[:200]!r}") from None
    if not isinstance(message, dict):
        raise MigrationFailedError("garbled message on the migration channel")
    return message


class Channel:
    """The source's end: send a request, wait for its answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 describe_failure: Any = None) -> None:
        self._reader = reader
        self._writer = writer
        self._describe_failure = describe_failure

    async def request(self, op: str, timeout: float, **args: object) -> dict[str, Any]:
        """Send *op*; return its result.

        :raises PyvirtError: the agent's error, of the class it had there.
        :raises MigrationFailedError: when the channel breaks or no answer comes within
            *timeout* s.
        """
        try:
            self._writer.write(encode({"op": op, "args": args}))
            await self._writer.drain()
            async with asyncio.timeout(timeout):
                line = await self._reader.readline()
        except TimeoutError:
            raise MigrationFailedError(
                f"destination did not answer '{op}' within {timeout:g} s") from None
        except (ConnectionError, BrokenPipeError) as err:
            raise MigrationFailedError(self._broken(op, str(err))) from err
        if not line:
            raise MigrationFailedError(self._broken(op, "connection closed"))
        answer = decode(line)
        if not answer.get("ok"):
            raise from_wire(answer.get("error"))
        result = answer.get("result", {})
        return result if isinstance(result, dict) else {}

    def _broken(self, op: str, reason: str) -> str:
        extra = self._describe_failure() if self._describe_failure else ""
        return f"migration channel to the destination broke during '{op}': {reason}" + (
            f" ({extra})" if extra else "")

    def close(self) -> None:
        self._writer.close()
