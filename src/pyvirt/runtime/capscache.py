"""The capabilities of each QEMU binary, probed once and kept on disk.

:class:`CapsCache` keeps one JSON file per binary under the state root's cache
directory, keyed by the binary's real path, size and mtime, so later lookups launch
nothing (and import neither asyncio nor qemu.qmp: the prober,
:mod:`pyvirt.runtime.probe`, is imported on a miss only).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pyvirt.errors import ProcessError, SystemCallError
from pyvirt.qemu.caps import PROBED_DEVICES, QemuCaps, caps_from_obj, caps_to_obj
from pyvirt.store.atomic import write_atomic

if TYPE_CHECKING:
    import logging


def _log() -> logging.Logger:
    """This module's logger; logging is imported only when there is something to say (a
    cache hit, the common case, says nothing)."""
    import logging

    return logging.getLogger(__name__)


#: Probes a binary; :class:`CapsCache` takes one so tests can count or fake launches.
Prober = Callable[[str], QemuCaps]


class CapsCache:
    """Capabilities per binary, persisted as one JSON file per binary in *cache_dir*.

    An entry is valid while the binary's real path, size and mtime (ns) and the probed
    device list are unchanged; a hit reads one small file and launches nothing. Host
    facts such as ``kvm_present`` are not part of the key: they are as of the probe.
    A missing, stale, unreadable or corrupt entry is re-probed and rewritten atomically.
    ``probe_count`` counts prober calls made by this instance.

    Synchronous on purpose (the default prober runs its own event loop); async callers
    use ``await asyncio.to_thread(cache.lookup, binary)``.
    """

    def __init__(self, cache_dir: Path, prober: Prober | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self._prober = prober
        self.probe_count = 0

    def lookup(self, binary: str) -> QemuCaps:
        """The capabilities of *binary*, from the cache or by probing it.

        The returned ``binary`` is *binary* as given, even when the entry was recorded
        under another path to the same file. Failing to write the cache only logs a
        warning: the probed answer is still correct.

        :raises ProcessError: when the binary does not exist or cannot be probed.
        """
        real = os.path.realpath(binary)
        try:
            st = os.stat(real)
        except OSError as err:
            raise ProcessError(f"Failed to probe capabilities for {binary}: "
                               f"{err.strerror or err}", (binary,)) from err
        # Taken before probing: if the binary is replaced meanwhile, the entry is stale at
        # once and the next lookup probes again. PROBED_DEVICES is part of the key so that
        # extending it invalidates old entries without anyone remembering to.
        key = {"path": real, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
               "probed": list(PROBED_DEVICES)}
        entry = self.entry_path(real)
        cached = self._read(entry, key)
        if cached is not None:
            return cached if cached.binary == binary else dataclasses.replace(cached,
                                                                              binary=binary)
        self.probe_count += 1
        caps = self._probe(binary)
        try:
            self._write(entry, key, caps)
        except (OSError, SystemCallError) as err:
            _log().warning("cannot write QEMU capabilities cache %s: %s", entry, err)
        return caps

    def _probe(self, binary: str) -> QemuCaps:
        if self._prober is not None:
            return self._prober(binary)
        from pyvirt.runtime.probe import probe_sync  # only on a miss: asyncio + qemu.qmp

        return probe_sync(binary)

    def entry_path(self, binary: str) -> Path:
        """The cache file for *binary* (name = basename + hash of its real path)."""
        real = os.path.realpath(binary)
        digest = hashlib.sha256(real.encode()).hexdigest()[:16]
        return self.cache_dir / f"{os.path.basename(real)}-{digest}.json"

    @staticmethod
    def _read(entry: Path, key: Mapping[str, object]) -> QemuCaps | None:
        """The cached caps when *entry* holds valid data for *key*; None otherwise."""
        try:
            document = json.loads(entry.read_bytes())
            if not isinstance(document, dict) or document.get("key") != key:
                return None
            return caps_from_obj(document.get("caps"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:  # corrupt or unreadable: probe again
            _log().info("ignoring QEMU capabilities cache %s: %s", entry, err)
            return None

    @staticmethod
    def _write(entry: Path, key: Mapping[str, object], caps: QemuCaps) -> None:
        """Write *entry* atomically, mode 0600, its directory 0700.

        :raises SystemCallError: when the directory or file cannot be written.
        """
        document = {"key": dict(key), "caps": caps_to_obj(caps)}
        write_atomic(entry, json.dumps(document, indent=2, sort_keys=True) + "\n")
