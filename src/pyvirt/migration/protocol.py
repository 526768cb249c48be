"""The migration control channel: JSON lines between the source pyvirt and a
``pyvirt migrate-agent`` on the destination.

Requests are ``{"op": NAME, "args": {...}}``; answers ``{"ok": true, "result": {...}}``
or ``{"ok": false, "error": MESSAGE}``. One request at a time; the agent answers each.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from pyvirt.errors import MigrationFailedError

PROTOCOL_VERSION = 1
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

        :raises MigrationFailedError: when the agent reports an error, the channel breaks
            or no answer comes within *timeout* s.
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
            raise MigrationFailedError(f"destination: {answer.get('error', 'unknown error')}")
        result = answer.get("result", {})
        return result if isinstance(result, dict) else {}

    def _broken(self, op: str, reason: str) -> str:
        extra = self._describe_failure() if self._describe_failure else ""
        return f"migration channel to the destination broke during '{op}': {reason}" + (
            f" ({extra})" if extra else "")

    def close(self) -> None:
        self._writer.close()
