"""The migration gate: libvirt's messages for blocking hostdevs, pyvirt's extra refusals."""

from __future__ import annotations

import pytest

from pyvirt.domain.model import (
    Devices,
    Domain,
    DomainType,
    HostdevSource,
    Interface,
    PciHostdev,
    PersistentTeaming,
    TransientTeaming,
    UserSource,
)
from pyvirt.errors import MigrationNotAllowedError, OperationInvalidError
from pyvirt.migration.plan import plan_migration
from pyvirt.runtime.failover import PairStatus
from pyvirt.runtime.state import DomainState
from pyvirt.types import PciAddress

VF1, VF2 = PciAddress(0, 3, 7, 1), PciAddress(0, 3, 7, 2)
STANDBY = Interface(source=UserSource(), model="virtio", teaming=PersistentTeaming(),
                    alias="ua-net0")
TEAMED_VF = Interface(source=HostdevSource(address=VF1), teaming=TransientTeaming("ua-net0"),
                      alias="hostdev0")


def domain(*nics: Interface, hostdevs: tuple[PciHostdev, ...] = ()) -> Domain:
    return Domain(type=DomainType.KVM, name="g", memory=1024,
                  devices=Devices(interfaces=nics, hostdevs=hostdevs))


def status(negotiated: bool = True, plugged: bool = True) -> list[PairStatus]:
    return [PairStatus("ua-net0", "hostdev0", "52:54:00:00:00:01", negotiated, plugged)]


def test_teamed_vf_may_migrate_and_will_be_unplugged() -> None:
    plan = plan_migration(domain(STANDBY, TEAMED_VF), DomainState.RUNNING, status())
    assert plan.unplug == ("hostdev0",) and plan.hidden == () and plan.notes == ()


def test_untamed_vf_interface_blocks_with_libvirt_message() -> None:
    plain = Interface(source=HostdevSource(address=VF2), alias="hostdev1")
    with pytest.raises(MigrationNotAllowedError) as err:
        plan_migration(domain(STANDBY, TEAMED_VF, plain), DomainState.RUNNING, status())
    assert str(err.value) == ("Operation not supported: cannot migrate a domain with "
                              "<interface type='hostdev'>")


def test_plain_hostdev_blocks_with_libvirt_message() -> None:
    with pytest.raises(MigrationNotAllowedError) as err:
        plan_migration(domain(STANDBY, hostdevs=(PciHostdev(source=VF2),)), DomainState.RUNNING, [])
    assert str(err.value) == ("Operation not supported: cannot migrate a domain with "
                              "<hostdev mode='subsystem' type='pci'>")


def test_teamed_plain_hostdev_may_migrate() -> None:
    dev = PciHostdev(source=VF1, teaming=TransientTeaming("ua-net0"), alias="hostdev0")
    plan_migration(domain(STANDBY, hostdevs=(dev,)), DomainState.RUNNING, status())


def test_transient_pointing_nowhere_blocks() -> None:
    """libvirt lets this through (only the transient flag counts); QEMU would not unplug."""
    dangling = Interface(source=HostdevSource(address=VF1), teaming=TransientTeaming("ua-missing"))
    with pytest.raises(MigrationNotAllowedError):
        plan_migration(domain(STANDBY, dangling), DomainState.RUNNING, [])


def test_paused_guest_with_plugged_primary_refused() -> None:
    with pytest.raises(OperationInvalidError) as err:
        plan_migration(domain(STANDBY, TEAMED_VF), DomainState.PAUSED, status())
    assert "wait-unplug" in str(err.value) and "hostdev0" in str(err.value)


def test_paused_guest_without_plugged_primary_allowed() -> None:
    plan = plan_migration(domain(STANDBY, TEAMED_VF), DomainState.PAUSED,
                          status(negotiated=False, plugged=False))
    assert plan.unplug == () and plan.hidden == ("hostdev0",)
    assert "never negotiated" in plan.notes[0]


def test_shut_off_domain_refused() -> None:
    with pytest.raises(OperationInvalidError):
        plan_migration(domain(STANDBY), DomainState.SHUTOFF, [])
