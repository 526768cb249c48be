"""A libvirt-python client on a real guest: ``import libvirt`` is pyvirt's API after
``pyvirt.install_as_libvirt()``; states, reasons and CPU time as libvirt answers them."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

import pyvirt
from pyvirt.guest.build import GuestImage
from pyvirt.guest.report import SerialLog
from pyvirt.guest.xml import demo_domain_xml
from tests.e2e.conftest import Host, needs_qemu

pytestmark = [pytest.mark.e2e, needs_qemu]
BOOT = 90.0


def test_a_libvirt_client_drives_the_demo_guest(host: Host, guest_image: GuestImage,
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "libvirt", None)  # restored after the test
    pyvirt.install_as_libvirt()
    import libvirt  # type: ignore[import-not-found,unused-ignore]

    serial_path = tmp_path / "g1.serial"
    conn = libvirt.openAuth(host.uri, [[libvirt.VIR_CRED_AUTHNAME], None, None], 0)
    dom = conn.defineXML(demo_domain_xml("g1", guest_image, serial_path))
    dom.setAutostart(1)
    assert (dom.autostart(), dom.isPersistent(), dom.isActive()) == (1, 1, 0)
    assert dom.state() == [libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_UNKNOWN]
    assert conn.getVersion() >= 7_000_000 and conn.getType() == "QEMU"
    dom.create()
    try:
        serial = SerialLog(serial_path, from_end=False)
        first = serial.wait_for(lambda r: r.bonded, BOOT)
        assert first is not None, f"guest never bonded: {serial.text()[-2000:]}"
        assert dom.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED]
        assert conn.lookupByID(dom.ID()).name() == "g1"
        assert [d.name() for d in conn.listAllDomains(
            libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE | libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART
        )] == ["g1"]
        cpu = dom.info()[4]
        assert cpu > 0  # the guest has booted: QEMU has run for a while
        time.sleep(0.5)
        assert dom.info()[4] >= cpu
        dom.suspend()
        assert dom.state() == [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER]
        dom.resume()
        assert dom.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_UNPAUSED]
        serial.mark()
        pid = host.qemu_pids()
        dom.reboot(0)  # ACPI power button, then reset: the same QEMU boots it again
        assert dom.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED]
        assert host.qemu_pids() == pid
        deadline = time.monotonic() + BOOT
        while "Linux version" not in serial.text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "Linux version" in serial.text(), "the guest did not boot again"
        again = serial.wait_for(lambda r: r.bonded, BOOT)
        assert again is not None, f"guest never came back: {serial.text()[-2000:]}"
    finally:
        dom.destroy()
    assert dom.state() == [libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED]
    assert host.qemu_pids() == []
    dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    assert conn.listAllDomains() == []
