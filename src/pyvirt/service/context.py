"""What every use case needs from the outside world: a state root, caps, randomness."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyvirt.errors import SystemCallError
from pyvirt.store.roots import ConnectUri, StateRoot, parse_uri

if TYPE_CHECKING:  # imported where used: a quick ``start`` needs none of them
    from pyvirt.domain.defaults import MacFactory
    from pyvirt.qemu.caps import QemuCaps
    from pyvirt.runtime.domain import Runtime


@dataclass(frozen=True)
class Context:
    """A local connection: its URI, its state root and its capability cache."""

    uri: ConnectUri
    root: StateRoot

    @classmethod
    def open(cls, uri_text: str) -> Context:
        """:raises PyvirtError: for a malformed or unsupported URI."""
        uri = parse_uri(uri_text)
        return cls(uri, StateRoot.for_uri(uri))

    def caps_for(self, binary: str) -> QemuCaps:
        """Capabilities of *binary*, probed at most once per binary version.

        :raises PyvirtError: when the binary is missing or cannot be probed.
        """
        try:
            os.stat(binary)
        except OSError as err:  # missing, a name too long, a loop ...
            raise SystemCallError(f"Cannot check QEMU binary {binary}: "
                                  f"{err.strerror or err}") from err
        if not os.access(binary, os.X_OK):
            raise SystemCallError(f"Cannot check QEMU binary {binary}: Permission denied")
        from pyvirt.runtime.capscache import CapsCache

        return CapsCache(self.root.caps_dir).lookup(binary)

    @staticmethod
    def new_mac() -> MacFactory:
        from pyvirt.domain.defaults import mac_factory

        return mac_factory(os.urandom)

    def runtime(self) -> Runtime:
        """The runtime of this root, with its host resources and configuration."""
        from pyvirt.runtime.domain import Runtime
        from pyvirt.service.config import load_config
        from pyvirt.service.hosthooks import host_hooks_for

        return Runtime(self.root, host=host_hooks_for(self.root),
                       qemu_user=load_config(self.root).qemu_user)
