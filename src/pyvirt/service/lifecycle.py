"""The one front door of ``start`` and ``destroy``: what the CLI and the API call.

Each verb first tries its fast path, which needs neither the XML model nor the full
service: ``start`` replays the domain's launch plan (:mod:`pyvirt.runtime.launch`),
``destroy`` kills the guest from its run-directory records
(:mod:`pyvirt.runtime.quickstop`). A fast path that declines has done nothing, and the
full path (:class:`~pyvirt.service.domains.DomainService`, imported only then) does the
verb and reconciles whatever needs it. The caller cannot tell which way it went: same
result, same messages, same errors.

Launch plans exist only for domains that hold no host resources (see
docs/architecture.md, "Launch plans and host resources"): the full path decides that
when it writes a plan, so this module needs no such check.

Import-light on purpose: importing it loads nothing; a fast path loads the run-directory
helpers (no XML, no asyncio until QEMU runs); only the full path loads the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the fast paths need none of them
    from pyvirt.service.context import Context
    from pyvirt.service.domains import DomainService


def start(ctx: Context, ref: str, paused: bool = False,
          svc: DomainService | None = None) -> str:
    """Start the defined domain *ref* (name or UUID), its vCPUs paused if *paused*;
    return its name.

    *svc*: the full path's service when the caller keeps one (the API does, per
    connection); otherwise one is made only when the launch plan cannot be used.

    :raises PyvirtError: as libvirt's start: no such domain, already active, the lock
        held too long, a broken pyvirt.conf, QEMU failing to come up, ...
    """
    from pyvirt.runtime.launch import quick_start
    from pyvirt.service.config import load_config

    if quick_start(ctx.root, ref, paused, lambda: load_config(ctx.root).qemu_user):
        return ref  # a plan is found by the domain's name only
    return (svc or _service(ctx)).start(ref, paused).name


def destroy(ctx: Context, ref: str, svc: DomainService | None = None) -> str:
    """Stop the domain *ref* (name or UUID) at once; return its name.

    *svc*: as for :func:`start`.

    :raises PyvirtError: as libvirt's destroy: no such domain, not running, the lock
        held too long, ...
    """
    from pyvirt.runtime.quickstop import quick_destroy

    if quick_destroy(ctx.root, ref):
        return ref  # records are found by the domain's name only
    return (svc or _service(ctx)).destroy(ref)


def _service(ctx: Context) -> DomainService:
    from pyvirt.service.domains import DomainService  # the XML model, the full runtime

    return DomainService(ctx)
