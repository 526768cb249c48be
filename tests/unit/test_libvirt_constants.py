"""pyvirt's VIR_* constants are libvirt-python's.

The table tests/data/libvirt-python/constants.json is generated from Debian's
python3-libvirt by scripts/gen-libvirt-constants.py (so these tests need no libvirt).
"""

from __future__ import annotations

import json
from types import ModuleType

import pytest

import pyvirt.api
import pyvirt.api_connect
import pyvirt.api_constants
import pyvirt.api_domain
import pyvirt.api_migration
import pyvirt.errors
from pyvirt.runtime.state import LIBVIRT_REASONS, DomainState, Reason, StateInfo
from tests.conftest import DATA

TABLE: dict[str, int | str] = json.loads(
    (DATA / "libvirt-python/constants.json").read_text())["constants"]

MODULES = (pyvirt.api, pyvirt.api_constants, pyvirt.api_domain, pyvirt.api_connect,
           pyvirt.api_migration, pyvirt.errors)


def vir_names(module: ModuleType) -> dict[str, object]:
    return {n: getattr(module, n) for n in dir(module) if n.startswith("VIR_")}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_vir_constant_pyvirt_defines_is_libvirts(module: ModuleType) -> None:
    defined = vir_names(module)
    assert {n for n in defined if n not in TABLE} == set(), "not in libvirt-python's table"
    assert {n: v for n, v in defined.items() if v != TABLE[n]} == {}


def test_every_constant_of_the_table_is_exported() -> None:
    exported = vir_names(pyvirt.api)
    assert sorted(set(TABLE) - set(exported)) == []
    # and through the package root, as ``import pyvirt as libvirt`` reads them
    assert TABLE["VIR_DOMAIN_PAUSED_USER"] == pyvirt.VIR_DOMAIN_PAUSED_USER


def test_the_table_covers_the_families_clients_use() -> None:
    for name in ("VIR_DOMAIN_RUNNING_BOOTED", "VIR_DOMAIN_SHUTOFF_DESTROYED",
                 "VIR_DOMAIN_SHUTDOWN_USER", "VIR_DOMAIN_CRASHED_PANICKED",
                 "VIR_DOMAIN_PMSUSPENDED_UNKNOWN", "VIR_MIGRATE_LIVE",
                 "VIR_DOMAIN_UNDEFINE_NVRAM", "VIR_DOMAIN_DEFINE_VALIDATE",
                 "VIR_DOMAIN_START_PAUSED", "VIR_DOMAIN_XML_INACTIVE",
                 "VIR_CONNECT_LIST_DOMAINS_TRANSIENT", "VIR_DOMAIN_EVENT_ID_LIFECYCLE",
                 "VIR_CONNECT_LIST_NETWORKS_ACTIVE", "VIR_ERR_NO_DOMAIN", "VIR_FROM_QEMU",
                 "VIR_CRED_AUTHNAME"):
        assert name in TABLE


# every (state, reason) pair pyvirt produces, and libvirt's name for it
PRODUCED = [
    (DomainState.RUNNING, Reason.BOOTED, "VIR_DOMAIN_RUNNING_BOOTED"),
    (DomainState.RUNNING, Reason.UNPAUSED, "VIR_DOMAIN_RUNNING_UNPAUSED"),
    (DomainState.RUNNING, Reason.MIGRATED, "VIR_DOMAIN_RUNNING_MIGRATED"),
    (DomainState.PAUSED, Reason.USER, "VIR_DOMAIN_PAUSED_USER"),
    (DomainState.PAUSED, Reason.STARTING_UP, "VIR_DOMAIN_PAUSED_STARTING_UP"),
    (DomainState.PAUSED, Reason.MIGRATION, "VIR_DOMAIN_PAUSED_MIGRATION"),
    (DomainState.PMSUSPENDED, Reason.UNKNOWN, "VIR_DOMAIN_PMSUSPENDED_UNKNOWN"),
    (DomainState.CRASHED, Reason.CRASHED, "VIR_DOMAIN_CRASHED_UNKNOWN"),
    (DomainState.SHUTOFF, Reason.UNKNOWN, "VIR_DOMAIN_SHUTOFF_UNKNOWN"),
    (DomainState.SHUTOFF, Reason.SHUTDOWN, "VIR_DOMAIN_SHUTOFF_SHUTDOWN"),
    (DomainState.SHUTOFF, Reason.DESTROYED, "VIR_DOMAIN_SHUTOFF_DESTROYED"),
    (DomainState.SHUTOFF, Reason.CRASHED, "VIR_DOMAIN_SHUTOFF_CRASHED"),
    (DomainState.SHUTOFF, Reason.MIGRATED, "VIR_DOMAIN_SHUTOFF_MIGRATED"),
    (DomainState.SHUTOFF, Reason.FAILED, "VIR_DOMAIN_SHUTOFF_FAILED"),
]


@pytest.mark.parametrize("state,reason,name", PRODUCED, ids=[p[2] for p in PRODUCED])
def test_each_reason_has_libvirts_number(state: DomainState, reason: Reason,
                                         name: str) -> None:
    assert StateInfo(state, reason).reason_number == TABLE[name]


def test_every_mapped_reason_is_tested() -> None:
    mapped = {(s, r) for s, reasons in LIBVIRT_REASONS.items() for r in reasons}
    assert mapped <= {(s, r) for s, r, _ in PRODUCED}


def test_state_numbers_are_libvirts() -> None:
    for state in DomainState:
        assert state.number == TABLE[f"VIR_DOMAIN_{state.name}"]
