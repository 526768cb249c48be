"""The Python API, in libvirt-python's shape, so scripts port with an import change.

    import pyvirt as libvirt
    conn = libvirt.open("qemu:///embed?root=/tmp/host-a")
    dom = conn.defineXML(xml)
    dom.create()

or, for a program that says ``import libvirt`` (Ansible's community.libvirt ...)::

    import pyvirt
    pyvirt.install_as_libvirt()
    import libvirt  # pyvirt's API

Every failure is a :class:`libvirtError` carrying the same message the CLI prints. The
VIR_* constants are libvirt-python's (:mod:`pyvirt.api_constants`, generated from it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from pyvirt.api_connect import open as open
from pyvirt.api_connect import openAuth as openAuth
from pyvirt.api_connect import openReadOnly as openReadOnly
from pyvirt.api_connect import pyvirt_version
from pyvirt.api_connect import virConnect as virConnect
from pyvirt.api_constants import *  # noqa: F403  (libvirt-python's VIR_* names)
from pyvirt.api_domain import virDomain as virDomain
from pyvirt.api_errors import libvirtError as libvirtError


def getVersion(name: str | None = None) -> int:
    """pyvirt's version in libvirt's encoding (0.1.0 -> 1000): not libvirt's."""
    return pyvirt_version()


def registerErrorHandler(f: Callable[[Any, Any], Any] | None, ctx: Any) -> int:
    """Accepted and never called: pyvirt reports errors only as :class:`libvirtError`
    (libvirt's default handler prints them too, which scripts register this to stop)."""
    return 1


def virGetLastError() -> None:
    """None: the last error is the :class:`libvirtError` raised, not a global."""
    return None


def install_as_libvirt() -> None:
    """Make ``import libvirt`` give this API (opt-in, as PyMySQL's install_as_MySQLdb):
    programs written for libvirt-python then run on pyvirt unchanged. Call it before
    they import libvirt; a libvirt already imported stays what it was."""
    sys.modules["libvirt"] = sys.modules[__name__]
