"""The one exception tree of pyvirt.

Every error a user can cause is a :class:`PyvirtError`. Its ``str()`` is the complete
one-line message a user sees, already carrying the libvirt-style category prefix
(``unsupported configuration: ...``). Only the CLI turns an error into an exit code.
"""

from __future__ import annotations


class PyvirtError(Exception):
    """Root of all pyvirt errors. ``prefix`` is libvirt's rendered error-code text."""

    prefix: str = ""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"{self.prefix}{detail}")


class XmlSyntaxError(PyvirtError):
    """The document is not well-formed XML, or uses a refused construct (DOCTYPE)."""

    prefix = "XML error: "


class SchemaError(PyvirtError):
    """The document is well-formed but outside the RelaxNG subset pyvirt supports."""

    prefix = "XML document failed to validate against schema: "


class ParseError(PyvirtError):
    """A value inside the document could not be understood (bad MAC, bad number ...)."""

    prefix = "XML error: "


class ConfigUnsupportedError(PyvirtError):
    """libvirt's VIR_ERR_CONFIG_UNSUPPORTED."""

    prefix = "unsupported configuration: "


class InternalError(PyvirtError):
    """libvirt's VIR_ERR_INTERNAL_ERROR."""

    prefix = "internal error: "


class OperationInvalidError(PyvirtError):
    """libvirt's VIR_ERR_OPERATION_INVALID (wrong state for the request)."""

    prefix = "Requested operation is not valid: "


class OperationFailedError(PyvirtError):
    """libvirt's VIR_ERR_OPERATION_FAILED."""

    prefix = "operation failed: "


class OperationUnsupportedError(PyvirtError):
    """libvirt's VIR_ERR_OPERATION_UNSUPPORTED."""

    prefix = "Operation not supported: "


class OperationAbortedError(PyvirtError):
    """libvirt's VIR_ERR_OPERATION_ABORTED."""

    prefix = "operation aborted: "


class NoDomainError(PyvirtError):
    """libvirt's VIR_ERR_NO_DOMAIN."""

    prefix = "Domain not found: "


class InvalidArgError(PyvirtError):
    """libvirt's VIR_ERR_INVALID_ARG."""

    prefix = "invalid argument: "


class ProcessError(PyvirtError):
    """QEMU (or a helper program) failed; carries argv, exit status and the log tail."""

    prefix = "internal error: "

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


class MigrationNotAllowedError(OperationUnsupportedError):
    """The migration gate refused the domain."""


class MigrationFailedError(OperationFailedError):
    """A migration started but did not complete."""


class HostError(PyvirtError):
    """A host resource (sysfs, netlink, files) could not be used."""

    prefix = "internal error: "


class SystemCallError(HostError):
    """libvirt's VIR_ERR_SYSTEM_ERROR: an OS call on a host file failed.

    It has no category prefix; the message ends with the OS reason, as in libvirt's
    ``Failed to open file 'x.xml': No such file or directory``.
    """

    prefix = ""
