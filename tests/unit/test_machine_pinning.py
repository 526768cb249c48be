"""define pins the versioned machine type, as libvirt does: a QEMU upgrade or a migration
to a host with a newer QEMU does not change the guest's hardware ABI."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pyvirt.domain.io import domain_from_xml
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.define import pin_machine

CAPS = QemuCaps.from_json(
    (Path(__file__).parent.parent / "data" / "caps" / "qemu-7.2-x86_64.json").read_text())
XML = ("<domain type='qemu'><name>g</name><memory>65536</memory>"
       "<os><type arch='x86_64' machine='{}'>hvm</type></os></domain>")


@pytest.mark.parametrize(("given", "stored"), [
    ("q35", "pc-q35-7.2"), ("pc", "pc-i440fx-7.2"),
    ("pc-q35-7.2", "pc-q35-7.2"), ("pc-q35-6.0", "pc-q35-6.0"),  # already versioned: kept
])
def test_define_stores_the_versioned_machine(given: str, stored: str) -> None:
    assert pin_machine(domain_from_xml(XML.format(given)), CAPS).os.machine == stored


def test_a_machine_this_qemu_lacks_is_refused_as_libvirt_does() -> None:
    """What a migration to a host whose QEMU lacks the guest's machine meets."""
    with pytest.raises(ConfigUnsupportedError) as err:
        pin_machine(domain_from_xml(XML.format("pc-q35-99.0")), CAPS)
    assert str(err.value) == ("unsupported configuration: Emulator "
                              "'/usr/bin/qemu-system-x86_64' does not support machine type "
                              "'pc-q35-99.0'")


def test_no_caps_or_no_machine_changes_nothing() -> None:
    domain = domain_from_xml(XML.format("q35"))
    assert pin_machine(domain, None) is domain
    bare = replace(domain, os=replace(domain.os, machine=None))
    assert pin_machine(bare, CAPS) is bare
