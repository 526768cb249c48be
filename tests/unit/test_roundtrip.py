"""parse(format(d)) == d for generated domains, and format(parse(x)) is stable."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyvirt.domain.io import domain_from_xml, domain_to_xml
from pyvirt.domain.model import (
    Controller,
    ControllerType,
    Devices,
    Disk,
    DiskBus,
    DiskType,
    Domain,
    DomainType,
    Interface,
    InterfaceType,
    LinkState,
    Memballoon,
    Os,
    PciHostdev,
    PersistentTeaming,
    TransientTeaming,
    Vcpu,
)
from pyvirt.types import MacAddress, PciAddress

names = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF,
                                       blacklist_characters="/",
                                       blacklist_categories=("Cc", "Cs")),
                min_size=1, max_size=20
                ).filter(lambda s: s.strip() == s and s.strip())
aliases = st.from_regex(r"ua-[A-Za-z0-9_-]{1,12}", fullmatch=True)
macs = st.binary(min_size=6, max_size=6).map(
    lambda b: MacAddress.from_bytes(bytes([b[0] & 0xFE]) + b[1:]))
pci = st.builds(PciAddress, st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.integers(0, 0x1F),
                st.integers(0, 7), st.sampled_from([None, True, False]))
teamings = st.one_of(st.none(), st.just(PersistentTeaming()),
                     aliases.map(TransientTeaming))


@st.composite
def interfaces(draw: st.DrawFn) -> Interface:
    kind = draw(st.sampled_from([InterfaceType.USER, InterfaceType.HOSTDEV,
                                 InterfaceType.BRIDGE, InterfaceType.NETWORK]))
    hostdev = kind is InterfaceType.HOSTDEV
    return Interface(
        type=kind, mac=draw(st.none() | macs),
        managed=draw(st.sampled_from([None, True, False])) if hostdev else None,
        source_bridge="br0" if kind is InterfaceType.BRIDGE else None,
        source_network="default" if kind is InterfaceType.NETWORK else None,
        source_address=draw(pci) if hostdev else None,
        model=None if hostdev else draw(st.sampled_from([None, "virtio", "e1000e"])),
        teaming=draw(teamings), link=draw(st.none() | st.sampled_from(list(LinkState))),
        mtu=draw(st.none() | st.integers(68, 9000)), boot=draw(st.none() | st.integers(1, 9)),
        alias=draw(st.none() | aliases), address=draw(st.none() | pci))


@st.composite
def domains(draw: st.DrawFn) -> Domain:
    return Domain(
        type=draw(st.sampled_from(list(DomainType))), name=draw(names),
        memory=draw(st.integers(1, 1 << 30)),
        uuid=draw(st.none() | st.uuids().map(str)),
        title=draw(st.none() | names),
        current_memory=draw(st.none() | st.integers(1, 1 << 30)),
        vcpu=Vcpu(draw(st.integers(1, 64)), draw(st.sampled_from([None, "static"]))),
        os=Os(arch="x86_64", machine=draw(st.sampled_from(["q35", "pc", None])),
              boot_devs=tuple(draw(st.lists(st.sampled_from(["hd", "network"]), max_size=2)))),
        devices=Devices(
            emulator=draw(st.none() | st.just("/usr/bin/qemu-system-x86_64")),
            disks=tuple(draw(st.lists(st.builds(
                Disk, type=st.just(DiskType.FILE), target_dev=st.just("vda"),
                source=st.just("/var/lib/x.img"), target_bus=st.just(DiskBus.VIRTIO)),
                max_size=1))),
            controllers=tuple(draw(st.lists(st.builds(
                Controller, type=st.just(ControllerType.PCI), index=st.integers(1, 30),
                model=st.just("pcie-root-port"), chassis=st.integers(1, 30),
                port=st.integers(8, 255), address=pci), max_size=3))),
            interfaces=tuple(draw(st.lists(interfaces(), max_size=4))),
            hostdevs=tuple(draw(st.lists(st.builds(
                PciHostdev, source=pci, managed=st.sampled_from([None, True]),
                teaming=st.none() | aliases.map(TransientTeaming),
                alias=st.none() | aliases), max_size=2))),
            memballoon=draw(st.none() | st.just(Memballoon("virtio")))),
    )


@settings(max_examples=200, deadline=None)
@given(domains())
def test_parse_format_roundtrip(domain: Domain) -> None:
    text = domain_to_xml(domain)
    again = domain_from_xml(text)
    assert again == domain
    assert domain_to_xml(again) == text
