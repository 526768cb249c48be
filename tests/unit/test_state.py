"""The lifecycle state machine."""

from __future__ import annotations

import pytest

from pyvirt.errors import OperationInvalidError
from pyvirt.runtime.state import Command, DomainState, guard

S = DomainState


@pytest.mark.parametrize("command,current,target", [
    (Command.START, S.SHUTOFF, S.RUNNING),
    (Command.DESTROY, S.CRASHED, S.SHUTOFF),  # QEMU alive after a panic: still active
    (Command.SUSPEND, S.RUNNING, S.PAUSED),
    (Command.RESUME, S.PAUSED, S.RUNNING),
    (Command.SHUTDOWN, S.RUNNING, S.SHUTOFF),
    (Command.DESTROY, S.PAUSED, S.SHUTOFF),
    (Command.DESTROY, S.RUNNING, S.SHUTOFF),
])
def test_allowed(command: Command, current: DomainState, target: DomainState) -> None:
    assert guard(command, current) is target


@pytest.mark.parametrize("command,current,message", [
    (Command.START, S.RUNNING, "domain is already running"),
    (Command.START, S.PAUSED, "domain is already running"),
    (Command.SUSPEND, S.SHUTOFF, "domain is not running"),
    (Command.RESUME, S.RUNNING, "domain is not paused"),
    (Command.RESUME, S.SHUTOFF, "domain is not running"),
    (Command.DESTROY, S.SHUTOFF, "domain is not running"),
    (Command.SHUTDOWN, S.SHUTOFF, "domain is not running"),
])
def test_refused(command: Command, current: DomainState, message: str) -> None:
    with pytest.raises(OperationInvalidError) as err:
        guard(command, current)
    assert str(err.value) == f"Requested operation is not valid: {message}"
