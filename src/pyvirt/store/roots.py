"""Connection URIs and the state roots they name.

``qemu:///system`` keeps everything in pyvirt's own system directories;
``qemu:///embed?root=DIR`` keeps everything under DIR, so any number of independent
"hosts" can share one machine (tests, benchmarks, the demo). ``qemu+ssh://`` names a
remote host whose pyvirt is reached over OpenSSH -- only as a migration destination
(``migrate``'s DESTURI): :meth:`StateRoot.for_uri`, the one way from a URI to local state,
refuses a remote URI, so no connection (``-c``, ``$PYVIRT_DEFAULT_URI``, ``pyvirt.open``)
can act on this host while naming another.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from pyvirt.errors import InvalidArgError, OperationUnsupportedError

DEFAULT_URI = "qemu:///system"
URI_ENV = "PYVIRT_DEFAULT_URI"
_LOCAL_FORMS = "qemu:///system or qemu:///embed?root=DIR"
# the query parameters each form understands; any other is refused, never ignored
_PARAMETERS = {"/system": frozenset(), "/embed": frozenset({"root"})}
_SSH_PARAMETERS = frozenset({"keyfile", "no_verify", "known_hosts", "command"})


@dataclass(frozen=True)
class ConnectUri:
    """A parsed connection URI. ``root`` is set for embed URIs; ``host`` for remote ones."""

    text: str
    transport: str | None  # "ssh" for qemu+ssh, None for local
    user: str | None
    host: str | None
    port: int | None
    path: str  # "/system" or "/embed"
    root: Path | None
    keyfile: str | None = None  # ssh: libvirt's ?keyfile=
    no_verify: bool = False  # ssh: libvirt's ?no_verify=1 (do not check the host key)
    known_hosts: str | None = None  # ssh: libvirt's ?known_hosts= (a known_hosts file)
    command: str | None = None  # ssh: libvirt's ?command= (the pyvirt to run there)

    @property
    def is_remote(self) -> bool:
        return self.transport is not None

    def local_form(self) -> str:
        """The URI the pyvirt on the remote side should open."""
        if self.root is not None:
            return f"qemu:///embed?root={self.root}"
        return DEFAULT_URI


def choose_uri(explicit: str | None) -> str:
    """``-c URI``, else ``$PYVIRT_DEFAULT_URI``, else ``qemu:///system``."""
    return explicit or os.environ.get(URI_ENV) or DEFAULT_URI


def parse_uri(text: str) -> ConnectUri:
    """:raises InvalidArgError: for anything but qemu[+ssh]://.../system or /embed?root=.

    A ``qemu+ssh://`` URI parses (it is a migration destination), but no local state root
    can be made of it (:meth:`StateRoot.for_uri`).
    """
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidArgError(f"could not parse URI '{text}'") from None
    scheme, _, transport = parts.scheme.partition("+")
    if scheme != "qemu":
        raise InvalidArgError(f"no connection driver available for {text}: pyvirt drives "
                              f"only QEMU ({_LOCAL_FORMS})")
    if transport not in ("", "ssh"):
        raise InvalidArgError(
            f"transport '{transport}' of URI '{text}' is not supported: pyvirt has no daemon "
            f"to connect to; use {_LOCAL_FORMS} (another host is reachable only as a "
            "migration destination, qemu+ssh://HOST/system)")
    if parts.path == "/session":
        raise InvalidArgError(f"URI '{text}': pyvirt has no per-user session driver; "
                              "use qemu:///embed?root=DIR for a private state root")
    if parts.path not in _PARAMETERS:
        raise InvalidArgError(f"unexpected QEMU URI path '{parts.path}', try {_LOCAL_FORMS}")
    if transport and not parts.hostname:
        raise InvalidArgError(f"URI '{text}' names no host")
    if not transport and parts.netloc:
        raise InvalidArgError(
            f"URI '{text}' names a host, but a qemu:// URI is this host only ({_LOCAL_FORMS}); "
            "another host is reachable only as a migration destination (qemu+ssh://HOST/system)")
    query = parse_qs(parts.query, keep_blank_values=True)
    allowed = _PARAMETERS[parts.path] | (_SSH_PARAMETERS if transport else frozenset())
    unknown = sorted(query.keys() - allowed)
    if unknown:  # e.g. root= on /system would otherwise open the system root
        raise InvalidArgError(f"unsupported parameter '{unknown[0]}' in URI '{text}'")
    root: Path | None = None
    if parts.path == "/embed":
        roots = query.get("root", [])
        if len(roots) != 1 or not roots[0]:
            raise InvalidArgError(f"Missing 'root' parameter in URI '{text}'")
        root = Path(unquote(roots[0]))
        if not root.is_absolute():
            raise InvalidArgError(f"root '{root}' in URI '{text}' must be an absolute path")
    keyfile = query.get("keyfile", [None])[0]
    no_verify = query.get("no_verify", ["0"])[0] == "1"
    return ConnectUri(text, transport or None, parts.username, parts.hostname, port,
                      parts.path, root, keyfile, no_verify,
                      query.get("known_hosts", [None])[0] or None,
                      query.get("command", [None])[0] or None)


@dataclass(frozen=True)
class StateRoot:
    """Where one local connection keeps its files."""

    config_dir: Path  # persistent domain definitions
    run_dir: Path  # one directory per running domain: sockets, pidfile, live XML
    log_dir: Path  # per-domain QEMU logs
    cache_dir: Path  # capability cache

    @classmethod
    def for_uri(cls, uri: ConnectUri) -> StateRoot:
        """The local state *uri* names: every connection's state comes from here.

        :raises OperationUnsupportedError: for a remote URI: a command or API call for
            another host runs there (pyvirt.cli.remote, pyvirt.api_remote), never here;
            before this refusal such a URI silently opened the local root.
        """
        if uri.is_remote:
            raise OperationUnsupportedError(
                f"remote connection '{uri.text}' names another host: its state is reached "
                "over ssh (pyvirt.cli.remote, pyvirt.api_remote), never opened here")
        if uri.root is not None:
            base = uri.root
            return cls(base / "etc" / "qemu", base / "run" / "qemu", base / "log" / "qemu",
                       base / "cache" / "qemu")
        return cls(Path("/etc/pyvirt/qemu"), Path("/run/pyvirt/qemu"),
                   Path("/var/log/pyvirt/qemu"), Path("/var/cache/pyvirt/qemu"))

    @property
    def caps_dir(self) -> Path:
        return self.cache_dir / "capabilities"

    def domain_run_dir(self, name: str) -> Path:
        return self.run_dir / f"domain-{name}"
