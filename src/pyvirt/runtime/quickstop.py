"""``destroy`` without the XML model, for the common case.

Destroying a running guest needs its status record, its QEMU's run state and a kill; the
full path also parses the definition and the live XML (to give host devices back), which
costs a fresh ``pyvirt`` process most of its time in imports. :func:`quick_destroy` does
the common case with the records alone: a recorded, fully started guest whose QEMU says
``running`` or ``paused``, on a host with no device claims. Anything else (no record, a
start or incoming migration unfinished, a guest that powered off, a completed outgoing
migration, a busy monitor, claimed host devices) is left to the full path and its
reconciliation.
"""

from __future__ import annotations

from pyvirt.errors import MonitorError
from pyvirt.runtime.state import DomainState, Reason
from pyvirt.runtime.status import RunDir, domain_lock, is_quick_name
from pyvirt.runtime.stop import stopped
from pyvirt.store.roots import StateRoot

QUERY_TIMEOUT = 2.0  # a busy monitor (another pyvirt holds it) falls back to the record


async def query_run_state(rd: RunDir, timeout: float = QUERY_TIMEOUT) -> str | None:
    """QEMU's run state (``running``, ``paused``, ``shutdown`` …), None when its monitor
    does not answer within *timeout* s."""
    from pyvirt.qmp.monitor import Monitor

    try:
        async with Monitor() as mon:
            await mon.connect(rd.monitor, timeout=timeout)
            return (await mon.query_status()).status
    except MonitorError:
        return None


def quick_destroy(root: StateRoot, name: str) -> bool:
    """Destroy the running domain *name* from its records; False (nothing done) when the
    full ``destroy`` must decide. Callers go through :mod:`pyvirt.service.lifecycle`.

    :raises PyvirtError: when the domain lock cannot be taken.
    """
    if not is_quick_name(name):
        return False
    rd = RunDir(root.domain_run_dir(name))
    try:
        if not rd.status_file.exists():
            return False
    except OSError:  # e.g. a name too long for a file name: no such domain here
        return False
    import asyncio

    from pyvirt.host.netstate import HostState

    with domain_lock(root, name, "destroy"):
        status = rd.read_status()
        if status is None or not status.process.alive() or \
                status.info.reason in (Reason.STARTING_UP, Reason.MIGRATION) or \
                status.info.state not in (DomainState.RUNNING, DomainState.PAUSED) or \
                HostState.of(root).has_records():
            return False
        # ``prelaunch``: started with --paused and never resumed
        if asyncio.run(query_run_state(rd)) not in ("running", "paused", "prelaunch"):
            return False
        stopped(rd, Reason.DESTROYED, status.process)  # it holds no host resources
    return True
