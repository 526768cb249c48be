"""``pyvirt.open("qemu+ssh://HOST/system")``: the API of another host, through one ssh
connection to the pyvirt there (``api-agent``, :mod:`pyvirt.api_agent`), kept open for as
many calls as the client makes.

Every public method of :class:`virConnect` and :class:`virDomain` is forwarded as it is
called (the far end checks the name); results come back as values, domains as proxies,
errors as :class:`libvirtError` with the same code and message as on that host. Callbacks
(events, error handlers) cannot cross and are refused.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from pyvirt.api_errors import libvirtError
from pyvirt.errors import OperationUnsupportedError, from_wire
from pyvirt.store.roots import ConnectUri


class RemoteConnect:
    """A connection to another host's pyvirt; method calls travel to it."""

    def __init__(self, uri: ConnectUri) -> None:
        from pyvirt.migration.peer import PeerStderr, peer_argv

        self._uri = uri
        self._lock = threading.Lock()
        try:
            self._proc = subprocess.Popen(peer_argv(uri, ["api-agent"]), stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as err:
            raise libvirtError(f"cannot run ssh: {err.strerror}") from err
        assert self._proc.stderr is not None
        self._stderr = PeerStderr(self._proc.stderr)
        self._call(["conn"], "getURI", (), {})  # fails now if the far end is not there

    def _gone(self) -> libvirtError:
        err = self._stderr.failure(self._uri, self._proc.wait(timeout=10))
        return libvirtError(str(err), err)

    def _call(self, target: list[Any], method: str, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> Any:
        try:
            line = json.dumps({"target": target, "method": method, "args": _wire(args),
                               "kwargs": _wire(kwargs)}) + "\n"
        except TypeError as err:
            unsupported = OperationUnsupportedError(
                f"'{method}' cannot be called over a remote connection: {err}")
            raise libvirtError(str(unsupported), unsupported) from err
        assert self._proc.stdin is not None and self._proc.stdout is not None
        with self._lock:
            try:
                self._proc.stdin.write(line.encode())
                self._proc.stdin.flush()
                reply = self._proc.stdout.readline()
            except (BrokenPipeError, OSError):
                reply = b""
        if not reply:
            raise self._gone()
        answer = json.loads(reply)
        if not answer.get("ok"):
            failed = from_wire(answer.get("error"))
            raise libvirtError(str(failed), failed)
        return self._unwire(answer.get("result"))

    def _unwire(self, value: Any) -> Any:
        if isinstance(value, dict) and "$domain" in value:
            name, uuid = value["$domain"]
            return RemoteDomain(self, str(name), str(uuid))
        if isinstance(value, list):
            return [self._unwire(v) for v in value]
        if isinstance(value, dict):
            return {k: self._unwire(v) for k, v in value.items()}
        return value

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self._call(["conn"], method, args, kwargs)

    def close(self) -> int:
        """End the connection (the far end's agent exits with it)."""
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        return 0

    def __enter__(self) -> RemoteConnect:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RemoteDomain:
    """A domain of a remote connection; name and UUID are known here."""

    def __init__(self, conn: RemoteConnect, name: str, uuid: str) -> None:
        self._conn, self._name, self._uuid = conn, name, uuid

    def name(self) -> str:
        return self._name

    def UUIDString(self) -> str:
        return self._uuid

    def connect(self) -> RemoteConnect:
        return self._conn

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self._conn._call(["domain", self._name], method,
                                                         args, kwargs)


def _wire(value: Any) -> Any:
    if isinstance(value, RemoteDomain):
        return {"$domain": [value.name(), value.UUIDString()]}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _wire(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"a {type(value).__name__} cannot travel")
