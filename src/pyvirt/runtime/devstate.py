"""The run-directory records hot-plug keeps in step with the guest.

* ``live.xml``: the live definition (runtime aliases), what ``dumpxml`` shows.
* ``definition.xml``: the definition the guest runs from, without runtime aliases (what
  a migration of a transient domain sends); a plugged device joins it in its stored
  form, an unplugged one leaves it, so a migration never sends a device set the guest
  does not have.
* ``pending-unplug.json``: aliases whose unplug QEMU was asked for and the guest has not
  completed, with the identity of that QEMU (a record of an earlier run is ignored).

Every write is atomic; the caller holds the domain lock.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from pyvirt.domain.devmatch import device_at, find_alias, find_device
from pyvirt.domain.devplan import counterpart, without
from pyvirt.domain.io import domain_to_xml
from pyvirt.domain.model import Domain, Interface, LinkState
from pyvirt.errors import PyvirtError
from pyvirt.qemu.hotplug import Member, append
from pyvirt.runtime.domain import Runtime
from pyvirt.store.atomic import remove_file, write_atomic


def _locate(domain: Domain, dev: Member) -> Domain:
    """*domain* without the device that is *dev*'s stored form.

    :raises PyvirtError: when *domain* has no such device.
    """
    ref = counterpart(dev)
    found = find_alias(domain, ref, "live detach") if isinstance(ref, str) \
        else find_device(domain, ref, "live detach")
    return without(domain, [found])


class DeviceRecords:
    """The hot-plug records of one running domain."""

    def __init__(self, runtime: Runtime, name: str) -> None:
        self.runtime = runtime
        self.name = name
        self.run_dir = runtime.run_dir(name)

    # --- live and started definitions -----------------------------------------------

    def write_live(self, live: Domain) -> None:
        write_atomic(self.run_dir.live_xml, domain_to_xml(live))

    def _edit_started(self, edit: Callable[[Domain], Domain]) -> None:
        started = self.runtime.started_definition(self.name)
        if started is None:
            return
        with contextlib.suppress(PyvirtError):  # a device it never had: nothing to do
            write_atomic(self.run_dir.definition, domain_to_xml(edit(started)))

    def plugged(self, stored_form: Member) -> None:
        """*stored_form* (no runtime alias) joins the started definition."""
        self._edit_started(lambda d: append(d, [stored_form])[0])

    def unplugged(self, dev: Member) -> None:
        """The live device *dev* leaves the started definition."""
        self._edit_started(lambda d: _locate(d, dev))

    def link_set(self, dev: Interface, link: LinkState | None) -> None:
        """The started definition's form of the live interface *dev* gets *link*."""
        def edit(d: Domain) -> Domain:
            ref = counterpart(dev)
            found = find_alias(d, ref, "live update") if isinstance(ref, str) \
                else find_device(d, ref, "live update")
            nics = list(d.devices.interfaces)
            nic = device_at(d, found)
            assert isinstance(nic, Interface)
            nics[found.index] = replace(nic, link=link)
            return replace(d, devices=replace(d.devices, interfaces=tuple(nics)))
        self._edit_started(edit)

    # --- pending unplugs --------------------------------------------------------------

    @property
    def _pending_path(self) -> Path:
        return self.run_dir.path / "pending-unplug.json"

    def _qemu_identity(self) -> list[int]:
        status = self.run_dir.read_status()
        return [status.pid, status.start_time] if status else []

    def pending(self) -> list[str]:
        """Aliases whose unplug this QEMU was asked for and has not finished."""
        try:
            raw = json.loads(self._pending_path.read_text())
            if raw.get("qemu") == self._qemu_identity():
                return [str(a) for a in raw.get("aliases", [])]
        except (OSError, ValueError, AttributeError):
            pass
        return []

    def set_pending(self, aliases: Sequence[str]) -> None:
        if not aliases:
            remove_file(self._pending_path)
            return
        write_atomic(self._pending_path, json.dumps({"qemu": self._qemu_identity(),
                                                     "aliases": sorted(set(aliases))}))
