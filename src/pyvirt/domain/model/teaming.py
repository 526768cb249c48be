"""``<teaming>``: the link between the two members of a failover pair."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TeamingType(StrEnum):
    PERSISTENT = "persistent"
    TRANSIENT = "transient"


@dataclass(frozen=True)
class PersistentTeaming:
    """The always-present member (a virtio NIC; QEMU ``failover=on``)."""

    type: TeamingType = TeamingType.PERSISTENT


@dataclass(frozen=True)
class TransientTeaming:
    """The member that may be unplugged; ``persistent`` is its partner's alias."""

    persistent: str
    type: TeamingType = TeamingType.TRANSIENT


Teaming = PersistentTeaming | TransientTeaming
