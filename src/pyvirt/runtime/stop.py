"""The one way a guest stops, for :class:`~pyvirt.runtime.domain.Runtime` and the quick
paths (:mod:`pyvirt.runtime.launch`, :mod:`pyvirt.runtime.quickstop`) alike.

QEMU is killed (when a process is named), the host resources the live domain held are
given back (when the caller passes its host hooks; that parses the live XML, so the
quick paths, whose domains hold no host resources, pass none and never import the XML
model), and the stop is recorded in the run directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyvirt.errors import PyvirtError
from pyvirt.runtime import process
from pyvirt.runtime.state import Reason
from pyvirt.runtime.status import RunDir

if TYPE_CHECKING:  # the XML model: imported where used, never on the quick paths
    from pyvirt.domain.model import Domain
    from pyvirt.runtime.hooks import HostHooks


def stopped(rd: RunDir, reason: Reason, ident: process.ProcessId | None = None,
            host: HostHooks | None = None) -> None:
    """QEMU *ident* killed (if given), what the live domain held given back to *host*
    (if given; a domain without live XML holds nothing), the stop recorded as *reason*.

    :raises PyvirtError: when the run directory cannot be updated.
    """
    if ident is not None:
        process.kill(ident)
    if host is not None:
        live = live_domain(rd)
        if live is not None:
            host.release(live)
    rd.mark_stopped(reason)


def live_domain(rd: RunDir) -> Domain | None:
    """The live definition (runtime aliases, host allocations) of the domain running in
    *rd*; None when there is none or it cannot be read."""
    from pyvirt.domain.io import domain_from_xml

    try:
        return domain_from_xml(rd.live_xml.read_bytes())
    except (OSError, PyvirtError):
        return None
