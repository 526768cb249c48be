"""The one exception tree of pyvirt.

Every error a user can cause is a :class:`PyvirtError`. Its ``str()`` is the complete
one-line message a user sees, already carrying the libvirt-style category prefix
(``unsupported configuration: ...``). Only the CLI turns an error into an exit code.

Every class is defined here and drawn here (``tests/unit/test_errors.py`` checks both),
each with libvirt's ``virErrorNumber`` as ``code`` (what ``libvirtError.get_error_code()``
answers); the prefix is libvirt's rendering of that code. The tree::

    PyvirtError                         VIR_ERR_INTERNAL_ERROR (1)
        XmlSyntaxError                  VIR_ERR_XML_ERROR (27)
        SchemaError                     VIR_ERR_XML_INVALID_SCHEMA (92)
        ParseError                      VIR_ERR_XML_ERROR (27)
        ConfigUnsupportedError          VIR_ERR_CONFIG_UNSUPPORTED (67)
        ConfigFileError                 VIR_ERR_CONF_SYNTAX (33)
        InternalError                   VIR_ERR_INTERNAL_ERROR (1)
        InvalidArgError                 VIR_ERR_INVALID_ARG (8)
        NoDomainError                   VIR_ERR_NO_DOMAIN (42)
        NoNetworkError                  VIR_ERR_NO_NETWORK (43)
        NoNodeDeviceError               VIR_ERR_NO_NODE_DEVICE (53)
        DeviceMissingError              VIR_ERR_DEVICE_MISSING (99)
        OperationInvalidError           VIR_ERR_OPERATION_INVALID (55)
        OperationFailedError            VIR_ERR_OPERATION_FAILED (9)
            MigrationFailedError        VIR_ERR_OPERATION_FAILED (9)
        OperationUnsupportedError       VIR_ERR_OPERATION_UNSUPPORTED (84)
            MigrationNotAllowedError    VIR_ERR_OPERATION_UNSUPPORTED (84)
        OperationAbortedError           VIR_ERR_OPERATION_ABORTED (78)
        LockTimeoutError                VIR_ERR_OPERATION_TIMEOUT (68)
        ProcessError                    VIR_ERR_INTERNAL_ERROR (1)
        MonitorError                    VIR_ERR_INTERNAL_ERROR (1)
            CommandFailedError          VIR_ERR_INTERNAL_ERROR (1)
        HostError                       VIR_ERR_INTERNAL_ERROR (1)
            SystemCallError             VIR_ERR_SYSTEM_ERROR (38)
                NetlinkCallError        VIR_ERR_SYSTEM_ERROR (38)
        RemoteError                     VIR_ERR_RPC (39)

Wire form (the migration agent's channel, and any later remote call): :func:`to_wire`
gives ``{"class": NAME, "detail": TEXT, "message": str(err)}``; :func:`from_wire` builds
the same class again from its detail, so ``str()`` is identical on both sides. Every class
can be built from its detail alone (extra fields are optional). A class this side does not
know (version skew) comes back as :class:`RemoteError` carrying the peer's message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import ClassVar

# libvirt's virErrorNumber values (include/libvirt/virterror.h) that pyvirt's errors carry
VIR_ERR_INTERNAL_ERROR = 1
VIR_ERR_INVALID_ARG = 8
VIR_ERR_OPERATION_FAILED = 9
VIR_ERR_XML_ERROR = 27
VIR_ERR_CONF_SYNTAX = 33
VIR_ERR_SYSTEM_ERROR = 38
VIR_ERR_RPC = 39
VIR_ERR_NO_DOMAIN = 42
VIR_ERR_NO_NETWORK = 43
VIR_ERR_NO_NODE_DEVICE = 53
VIR_ERR_OPERATION_INVALID = 55
VIR_ERR_CONFIG_UNSUPPORTED = 67
VIR_ERR_OPERATION_TIMEOUT = 68
VIR_ERR_OPERATION_ABORTED = 78
VIR_ERR_OPERATION_UNSUPPORTED = 84
VIR_ERR_XML_INVALID_SCHEMA = 92
VIR_ERR_DEVICE_MISSING = 99
# virErrorDomain (where an error comes from) and virErrorLevel
VIR_FROM_RPC = 7
VIR_FROM_CONF = 9
VIR_FROM_QEMU = 10
VIR_FROM_NETWORK = 19
VIR_FROM_NODEDEV = 22
VIR_ERR_ERROR = 2


class PyvirtError(Exception):
    """Root of all pyvirt errors. ``prefix`` is libvirt's rendered error-code text."""

    prefix: ClassVar[str] = ""
    code: ClassVar[int] = VIR_ERR_INTERNAL_ERROR
    domain: ClassVar[int] = VIR_FROM_QEMU

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"{self.prefix}{detail}")


class XmlSyntaxError(PyvirtError):
    """The document is not well-formed XML, or uses a refused construct (DOCTYPE)."""

    prefix = "XML error: "
    code = VIR_ERR_XML_ERROR


class SchemaError(PyvirtError):
    """The document is well-formed but outside the RelaxNG subset pyvirt supports."""

    prefix = "XML document failed to validate against schema: "
    code = VIR_ERR_XML_INVALID_SCHEMA


class ParseError(PyvirtError):
    """A value inside the document could not be understood (bad MAC, bad number ...)."""

    prefix = "XML error: "
    code = VIR_ERR_XML_ERROR


class ConfigUnsupportedError(PyvirtError):
    """libvirt's VIR_ERR_CONFIG_UNSUPPORTED."""

    prefix = "unsupported configuration: "
    code = VIR_ERR_CONFIG_UNSUPPORTED


class ConfigFileError(PyvirtError):
    """libvirt's VIR_ERR_CONF_SYNTAX: pyvirt.conf cannot be used."""

    prefix = "configuration file syntax error: "
    code = VIR_ERR_CONF_SYNTAX
    domain = VIR_FROM_CONF


class InternalError(PyvirtError):
    """libvirt's VIR_ERR_INTERNAL_ERROR."""

    prefix = "internal error: "
    code = VIR_ERR_INTERNAL_ERROR


class InvalidArgError(PyvirtError):
    """libvirt's VIR_ERR_INVALID_ARG."""

    prefix = "invalid argument: "
    code = VIR_ERR_INVALID_ARG


class NoDomainError(PyvirtError):
    """libvirt's VIR_ERR_NO_DOMAIN."""

    prefix = "Domain not found: "
    code = VIR_ERR_NO_DOMAIN


class NoNetworkError(PyvirtError):
    """libvirt's VIR_ERR_NO_NETWORK."""

    prefix = "Network not found: "
    code = VIR_ERR_NO_NETWORK
    domain = VIR_FROM_NETWORK


class NoNodeDeviceError(PyvirtError):
    """libvirt's VIR_ERR_NO_NODE_DEVICE."""

    prefix = "Node device not found: "
    code = VIR_ERR_NO_NODE_DEVICE
    domain = VIR_FROM_NODEDEV


class DeviceMissingError(PyvirtError):
    """libvirt's VIR_ERR_DEVICE_MISSING: no device of the domain matches the request."""

    prefix = "device not found: "
    code = VIR_ERR_DEVICE_MISSING


class OperationInvalidError(PyvirtError):
    """libvirt's VIR_ERR_OPERATION_INVALID (wrong state for the request)."""

    prefix = "Requested operation is not valid: "
    code = VIR_ERR_OPERATION_INVALID


class OperationFailedError(PyvirtError):
    """libvirt's VIR_ERR_OPERATION_FAILED."""

    prefix = "operation failed: "
    code = VIR_ERR_OPERATION_FAILED


class MigrationFailedError(OperationFailedError):
    """A migration started but did not complete."""


class OperationUnsupportedError(PyvirtError):
    """libvirt's VIR_ERR_OPERATION_UNSUPPORTED."""

    prefix = "Operation not supported: "
    code = VIR_ERR_OPERATION_UNSUPPORTED


class MigrationNotAllowedError(OperationUnsupportedError):
    """The migration gate refused the domain."""


class OperationAbortedError(PyvirtError):
    """libvirt's VIR_ERR_OPERATION_ABORTED."""

    prefix = "operation aborted: "
    code = VIR_ERR_OPERATION_ABORTED


class LockTimeoutError(PyvirtError):
    """libvirt's VIR_ERR_OPERATION_TIMEOUT for the state change lock."""

    prefix = "Timed out during operation: "
    code = VIR_ERR_OPERATION_TIMEOUT


class ProcessError(PyvirtError):
    """QEMU (or a helper program) failed; carries argv, exit status and the log tail."""

    prefix = "internal error: "
    code = VIR_ERR_INTERNAL_ERROR

    def __init__(
        self, detail: str, argv: tuple[str, ...] = (), status: int | None = None, log_tail: str = ""
    ) -> None:
        self.argv = argv
        self.status = status
        self.log_tail = log_tail
        super().__init__(detail)


class MonitorError(PyvirtError):
    """A QMP conversation failed (wraps qemu.qmp errors)."""

    prefix = "internal error: "
    code = VIR_ERR_INTERNAL_ERROR


class CommandFailedError(MonitorError):
    """QEMU received a command and answered with an error.

    ``error_class`` is QMP's class (``GenericError``, ``DeviceNotFound``,
    ``CommandNotFound`` ...), for callers that react to one specific failure.
    """

    def __init__(self, detail: str, command: str = "", error_class: str = "",
                 description: str = "") -> None:
        self.command = command
        self.error_class = error_class
        self.description = description or detail
        super().__init__(detail)

    @classmethod
    def answered(cls, command: str, error_class: str, description: str) -> CommandFailedError:
        """QEMU's error answer *description* (of QMP class *error_class*) to *command*."""
        return cls(f"QEMU command '{command}' failed: {description} ({error_class})",
                   command, error_class, description)


class HostError(PyvirtError):
    """A host resource (sysfs, netlink, files) could not be used."""

    prefix = "internal error: "
    code = VIR_ERR_INTERNAL_ERROR


class SystemCallError(HostError):
    """libvirt's VIR_ERR_SYSTEM_ERROR: an OS call on a host file failed.

    It has no category prefix; the message ends with the OS reason, as in libvirt's
    ``Failed to open file 'x.xml': No such file or directory``.
    """

    prefix = ""
    code = VIR_ERR_SYSTEM_ERROR


class NetlinkCallError(SystemCallError):
    """A netlink request failed; ``errno`` is the kernel's answer (0: not known), and a
    nonzero one is spelled out at the end of the message."""

    def __init__(self, detail: str, code: int = 0) -> None:
        self.errno = code
        super().__init__(f"{detail}: {os.strerror(code)}" if code else detail)


class RemoteError(PyvirtError):
    """A peer pyvirt's error of a class this side does not know; ``detail`` is the peer's
    whole message (libvirt's VIR_ERR_RPC has no prefix either)."""

    prefix = ""
    code = VIR_ERR_RPC
    domain = VIR_FROM_RPC


def error_classes() -> Iterator[type[PyvirtError]]:
    """Every class of the tree, the root first."""
    todo: list[type[PyvirtError]] = [PyvirtError]
    while todo:
        cls = todo.pop(0)
        if cls.__module__ == __name__:
            yield cls
            todo += cls.__subclasses__()


def to_wire(err: PyvirtError) -> dict[str, str]:
    """*err* as a JSON-ready object; :func:`from_wire` turns it back into *err*'s class."""
    return {"class": type(err).__name__, "detail": err.detail, "message": str(err)}


def from_wire(obj: object) -> PyvirtError:
    """The error :func:`to_wire` encoded, with the same class and ``str()``.

    A class name this side does not know, or a bare message (the channel's first version),
    gives a :class:`RemoteError` carrying the peer's message.
    """
    if isinstance(obj, str):
        return RemoteError(obj)
    if isinstance(obj, Mapping):
        name, detail, message = obj.get("class"), obj.get("detail"), obj.get("message")
        if isinstance(detail, str):
            for cls in error_classes():
                if cls.__name__ == name:
                    return cls(detail)
        for text in (message, detail):
            if isinstance(text, str) and text:
                return RemoteError(text)
    return RemoteError(f"unreadable error from the peer: {obj!r}")
