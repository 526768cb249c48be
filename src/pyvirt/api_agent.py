"""The far end of a remote API connection (``pyvirt -c LOCAL api-agent``, run over ssh by
:mod:`pyvirt.api_remote`): JSON lines in, JSON lines out, one call each.

A request names its target (``["conn"]`` or ``["domain", NAME]``), a public method of
that API object, and its arguments. The answer carries the result — API objects as
references (``{"$domain": [NAME, UUID]}``) — or the error as class and detail
(:func:`pyvirt.errors.to_wire`), which the caller raises again as the same error.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pyvirt.api_connect import virConnect
from pyvirt.api_domain import virDomain
from pyvirt.api_errors import libvirtError
from pyvirt.errors import InvalidArgError, PyvirtError, to_wire

#: Longest request accepted (a domain XML is at most 10 MiB, plus its JSON escaping).
MAX_REQUEST = 32 * 1024 * 1024


def encode(value: Any) -> Any:
    """A result as JSON: API objects become references."""
    if isinstance(value, virDomain):
        return {"$domain": [value.name(), value.UUIDString()]}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def _target(conn: virConnect, target: list[Any]) -> object:
    if target == ["conn"]:
        return conn
    if len(target) == 2 and target[0] == "domain" and isinstance(target[1], str):
        return conn.lookupByName(target[1])
    raise InvalidArgError(f"unknown remote API target {target!r}")


def _decode_arg(conn: virConnect, value: Any) -> Any:
    if isinstance(value, dict) and "$domain" in value:
        return conn.lookupByName(str(value["$domain"][0]))
    if isinstance(value, list):
        return [_decode_arg(conn, v) for v in value]
    return value


def call(conn: virConnect, request: dict[str, Any]) -> Any:
    """Run one request. :raises PyvirtError: or libvirtError, from the call."""
    method = request.get("method")
    if not isinstance(method, str) or method.startswith("_"):
        raise InvalidArgError(f"remote API method {method!r} is not allowed")
    target = _target(conn, list(request.get("target") or []))
    func = getattr(type(target), method, None)
    if not callable(func):
        raise InvalidArgError(f"{type(target).__name__} has no method '{method}'")
    args = [_decode_arg(conn, a) for a in request.get("args") or []]
    kwargs = {str(k): _decode_arg(conn, v) for k, v in (request.get("kwargs") or {}).items()}
    return encode(getattr(target, method)(*args, **kwargs))


def serve(uri: str) -> int:
    """Answer requests on standard input until it ends."""
    conn = virConnect(uri)
    out = sys.stdout
    for line in sys.stdin.buffer:
        if len(line) > MAX_REQUEST:
            answer: dict[str, Any] = {"ok": False, "error": to_wire(
                InvalidArgError("remote API request too large"))}
        else:
            try:
                answer = {"ok": True, "result": call(conn, json.loads(line))}
            except libvirtError as err:
                answer = {"ok": False, "error": to_wire(err.cause)}
            except PyvirtError as err:
                answer = {"ok": False, "error": to_wire(err)}
            except (TypeError, ValueError) as err:  # bad arguments or JSON
                answer = {"ok": False, "error": to_wire(InvalidArgError(str(err)))}
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0
