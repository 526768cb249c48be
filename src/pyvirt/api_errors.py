"""The API's one exception, and the decorator that turns pyvirt errors into it."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from pyvirt.errors import VIR_ERR_ERROR, PyvirtError

F = TypeVar("F", bound=Callable[..., Any])


class libvirtError(Exception):
    """The one exception of the API; ``str()`` is the CLI's message. Its code, domain and
    level are libvirt's numbers for the pyvirt error behind it (``cause``)."""

    def __init__(self, message: str, cause: PyvirtError | None = None) -> None:
        super().__init__(message)
        self.cause = cause if cause is not None else PyvirtError(message)

    def get_error_code(self) -> int:
        """libvirt's ``virErrorNumber`` (``VIR_ERR_NO_DOMAIN`` ...)."""
        return self.cause.code

    def get_error_domain(self) -> int:
        """libvirt's ``virErrorDomain`` (``VIR_FROM_QEMU`` ...)."""
        return self.cause.domain

    def get_error_level(self) -> int:
        return VIR_ERR_ERROR

    def get_error_message(self) -> str:
        return str(self)


def _translated(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PyvirtError as err:
            raise libvirtError(str(err), err) from err

    return wrapper  # type: ignore[return-value]
