"""The domain lifecycle as an explicit state machine (libvirt's states and reasons)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from pyvirt.errors import OperationInvalidError


class DomainState(Enum):
    """libvirt's virDomainState: value = (number, virsh text)."""

    NOSTATE = (0, "no state")
    RUNNING = (1, "running")
    BLOCKED = (2, "idle")
    PAUSED = (3, "paused")
    SHUTDOWN = (4, "in shutdown")
    SHUTOFF = (5, "shut off")
    CRASHED = (6, "crashed")
    PMSUSPENDED = (7, "pmsuspended")

    @property
    def number(self) -> int:
        return self.value[0]

    @property
    def text(self) -> str:
        return self.value[1]

    @property
    def active(self) -> bool:
        # CRASHED is QEMU alive after an internal error or a guest panic (a QEMU that is
        # gone is SHUTOFF with reason crashed): like libvirt's preserved crash, active
        return self not in (DomainState.SHUTOFF, DomainState.NOSTATE)


class Reason(StrEnum):
    """Why a domain is in its state (virsh domstate --reason)."""

    UNKNOWN = "unknown"
    BOOTED = "booted"
    UNPAUSED = "unpaused"
    MIGRATED = "migrated"
    USER = "user"
    MIGRATION = "migrating"
    STARTING_UP = "starting up"
    SHUTDOWN = "shutdown"
    DESTROYED = "destroyed"
    CRASHED = "crashed"
    FAILED = "failed"


#: libvirt's reason number (virDomainRunningReason, virDomainPausedReason ...) of each
#: (state, reason) pair pyvirt produces; reasons are numbered per state, and 0 is every
#: state's UNKNOWN. tests/unit/test_state.py holds each equal to libvirt-python's
#: constant of that name (VIR_DOMAIN_PAUSED_USER ...).
LIBVIRT_REASONS: dict[DomainState, dict[Reason, int]] = {
    DomainState.RUNNING: {Reason.BOOTED: 1, Reason.MIGRATED: 2, Reason.UNPAUSED: 5},
    DomainState.PAUSED: {Reason.USER: 1, Reason.MIGRATION: 2, Reason.STARTING_UP: 11},
    DomainState.SHUTOFF: {Reason.SHUTDOWN: 1, Reason.DESTROYED: 2, Reason.CRASHED: 3,
                          Reason.MIGRATED: 4, Reason.FAILED: 6},
    # QEMU's internal-error and guest-panicked both come out as CRASHED (crashed): libvirt
    # would say PANICKED for the second only, so pyvirt answers UNKNOWN for both
    DomainState.CRASHED: {},
}


@dataclass(frozen=True)
class StateInfo:
    state: DomainState
    reason: Reason = Reason.UNKNOWN

    @property
    def reason_number(self) -> int:
        """libvirt's number for :attr:`reason` in :attr:`state` (what
        ``virDomain.state()`` answers second); 0 (unknown) when libvirt has none."""
        return LIBVIRT_REASONS.get(self.state, {}).get(self.reason, 0)


class Command(StrEnum):
    START = "start"
    SUSPEND = "suspend"
    RESUME = "resume"
    SHUTDOWN = "shutdown"
    DESTROY = "destroy"
    MIGRATE = "migrate"


_RUNNING_LIKE = frozenset({DomainState.RUNNING, DomainState.PAUSED, DomainState.SHUTDOWN,
                           DomainState.BLOCKED, DomainState.PMSUSPENDED,
                           DomainState.CRASHED})

# command -> (states it may start from, the state it leads to, refusal otherwise)
_RULES: dict[Command, tuple[frozenset[DomainState], DomainState, str]] = {
    Command.START: (frozenset({DomainState.SHUTOFF, DomainState.NOSTATE}),
                    DomainState.RUNNING, "domain is already running"),
    Command.SUSPEND: (frozenset({DomainState.RUNNING}), DomainState.PAUSED,
                      "domain is not running"),
    Command.RESUME: (frozenset({DomainState.PAUSED}), DomainState.RUNNING,
                     "domain is not paused"),
    Command.SHUTDOWN: (frozenset({DomainState.RUNNING}), DomainState.SHUTOFF,
                       "domain is not running"),
    Command.DESTROY: (_RUNNING_LIKE, DomainState.SHUTOFF, "domain is not running"),
    Command.MIGRATE: (frozenset({DomainState.RUNNING, DomainState.PAUSED}),
                      DomainState.SHUTOFF, "domain is not running"),
}


def guard(command: Command, current: DomainState) -> DomainState:
    """The state *command* leads to from *current*.

    :raises OperationInvalidError: with libvirt's wording when it is not allowed.
    """
    sources, target, refusal = _RULES[command]
    if current not in sources:
        if command is Command.RESUME and not current.active:
            refusal = "domain is not running"
        raise OperationInvalidError(refusal)
    return target
