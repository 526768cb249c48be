"""Failover status of a running guest, derived by query so no listener is needed.

``negotiated``: the guest's virtio-net driver accepted VIRTIO_NET_F_STANDBY (QEMU emits
FAILOVER_NEGOTIATED then; by query it is the standby's negotiated feature list).
``plugged``: the primary exists on the guest's PCI bus (``query-pci``). QEMU hides the
primary until negotiation, so "not negotiated" normally implies "not plugged".
"""

from __future__ import annotations

from dataclasses import dataclass

from pyvirt.domain.model import Domain, Interface
from pyvirt.domain.teams import team_pairs
from pyvirt.qmp.monitor import Monitor


@dataclass(frozen=True)
class PairStatus:
    persistent: str
    transient: str
    mac: str | None
    negotiated: bool
    plugged: bool

    def as_dict(self) -> dict[str, object]:
        return {"persistent": self.persistent, "transient": self.transient, "mac": self.mac,
                "negotiated": self.negotiated, "plugged": self.plugged}


def standby_path(alias: str) -> str:
    return f"/machine/peripheral/{alias}/virtio-backend"


async def failover_status(monitor: Monitor, live: Domain) -> tuple[PairStatus, ...]:
    """The status of every resolved teaming pair of the live definition *live*.

    :raises MonitorError: when QEMU cannot be asked.
    """
    plugged_ids = set(await monitor.pci_device_ids())
    result = []
    for pair in team_pairs(live):
        partner: Interface | None = pair.persistent
        if partner is None or partner.alias is None or pair.transient.alias is None:
            continue
        negotiated = await monitor.virtio_standby_negotiated(standby_path(partner.alias))
        mac = str(partner.mac) if partner.mac else None
        result.append(PairStatus(partner.alias, pair.transient.alias, mac, negotiated,
                                 pair.transient.alias in plugged_ids))
    return tuple(result)
