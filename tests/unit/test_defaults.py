"""The teaming MAC rule and generic defaults."""

from __future__ import annotations

from itertools import count

import pytest

from pyvirt.domain.defaults import apply_defaults, is_auto_alias, mac_factory, strip_auto_aliases
from pyvirt.domain.model import (
    Devices,
    Domain,
    DomainType,
    HostdevSource,
    Interface,
    PersistentTeaming,
    TransientTeaming,
    UserSource,
)
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.types import MacAddress, PciAddress

A = MacAddress.parse("00:11:22:33:44:55")
B = MacAddress.parse("52:54:00:aa:bb:cc")


def counter_macs() -> object:
    n = count(1)
    return mac_factory(lambda k: next(n).to_bytes(k, "big"))


def pair(p_mac: MacAddress | None, t_mac: MacAddress | None) -> Domain:
    persistent = Interface(source=UserSource(), mac=p_mac, model="virtio",
                           teaming=PersistentTeaming(), alias="ua-net0")
    transient = Interface(mac=t_mac, source=HostdevSource(address=PciAddress(0, 3, 7, 1)),
                          teaming=TransientTeaming("ua-net0"))
    other = Interface(source=UserSource(), model="virtio")
    return Domain(type=DomainType.KVM, name="d", memory=1024,
                  devices=Devices(interfaces=(persistent, transient, other)))


def macs_of(domain: Domain) -> list[MacAddress | None]:
    return [i.mac for i in domain.devices.interfaces]


def test_transient_inherits_partner_mac() -> None:
    out = apply_defaults(pair(A, None), counter_macs())  # type: ignore[arg-type]
    assert macs_of(out)[:2] == [A, A]


def test_persistent_takes_transient_mac() -> None:
    out = apply_defaults(pair(None, B), counter_macs())  # type: ignore[arg-type]
    assert macs_of(out)[:2] == [B, B]


def test_neither_has_mac_both_get_one_generated() -> None:
    out = apply_defaults(pair(None, None), counter_macs())  # type: ignore[arg-type]
    first, second, third = macs_of(out)
    assert first == second == MacAddress("52:54:00:00:00:01")
    assert third == MacAddress("52:54:00:00:00:02")


def test_conflicting_macs_refused_with_both_named() -> None:
    with pytest.raises(ConfigUnsupportedError) as err:
        apply_defaults(pair(A, B), counter_macs())  # type: ignore[arg-type]
    text = str(err.value)
    assert "ua-net0" in text and str(A) in text and str(B) in text


def test_generic_defaults() -> None:
    out = apply_defaults(pair(A, None), counter_macs())  # type: ignore[arg-type]
    assert out.current_memory == 1024 and out.vcpu.placement == "static"
    assert out.os.arch == "x86_64" and out.os.machine == "pc"
    assert (out.on_poweroff, out.on_reboot, out.on_crash) == ("destroy", "restart", "destroy")


@pytest.mark.parametrize("alias,auto", [
    ("net0", True), ("hostdev3", True), ("pci.4", True), ("pcie.0", True), ("usb", True),
    ("sata0-0-1", True), ("virtio-disk0", True), ("balloon0", True),
    ("ua-net0", False), ("backup0", False), ("net0x", False),
])
def test_auto_alias_recognition(alias: str, auto: bool) -> None:
    assert is_auto_alias(alias) is auto


def test_strip_keeps_user_aliases() -> None:
    d = pair(A, None)
    nics = (d.devices.interfaces[0], Interface(source=UserSource(), alias="net1"))
    stripped = strip_auto_aliases(Domain(type=DomainType.KVM, name="d", memory=1, devices=Devices(
        interfaces=nics)))
    assert [i.alias for i in stripped.devices.interfaces] == ["ua-net0", None]
