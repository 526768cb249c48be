"""Team-aware hot-plug on a running demo guest, judged from the guest's serial reports.

The guest starts with the persistent virtio NIC only; the e1000e transient partner is
attached, detached and attached again, and ``dumpxml`` (live and ``--inactive``) is
checked after every step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

import pyvirt.api as libvirt
from pyvirt.guest.build import GuestImage
from pyvirt.guest.report import GuestReport, SerialLog
from pyvirt.guest.xml import PERSISTENT_ALIAS, TRANSIENT_ALIAS, demo_domain_xml, demo_mac
from tests.e2e.conftest import Host, needs_qemu

pytestmark = [pytest.mark.e2e, needs_qemu]
BOOT = 90.0
PLUG = 30.0

PRIMARY_XML = f"""<interface type='user'>
  <model type='e1000e'/>
  <teaming type='transient' persistent='{PERSISTENT_ALIAS}'/>
  <alias name='{TRANSIENT_ALIAS}'/>
</interface>
"""


@dataclass(frozen=True)
class Nic:
    alias: str | None
    mac: str | None
    bus: str | None
    rom_disabled: bool


def nics(xml: str) -> list[Nic]:
    root = etree.fromstring(xml.encode())
    found = []
    for el in root.iter("interface"):
        alias, mac = el.find("alias"), el.find("mac")
        addr, rom = el.find("address"), el.find("rom")
        found.append(Nic(alias.get("name") if alias is not None else None,
                         mac.get("address") if mac is not None else None,
                         addr.get("bus") if addr is not None else None,
                         rom is not None and rom.get("enabled") == "no"))
    return found


def dumps(host: Host) -> tuple[list[Nic], list[Nic]]:
    """The interfaces of the live and of the stored definition."""
    return (nics(host.run("dumpxml", "g1").stdout),
            nics(host.run("dumpxml", "--inactive", "g1").stdout))


def define_standby_only(host: Host, image: GuestImage, tmp: Path) -> SerialLog:
    serial = tmp / "g1.serial"
    root = etree.fromstring(demo_domain_xml("g1", image, serial).encode())
    devices = root.find("devices")
    assert devices is not None
    for iface in devices.findall("interface"):
        teaming = iface.find("teaming")
        if teaming is not None and teaming.get("type") == "transient":
            devices.remove(iface)
    xml = tmp / "g1.xml"
    xml.write_bytes(etree.tostring(root))
    host.run("define", str(xml))
    return SerialLog(serial)


def wait(serial: SerialLog, what: str, predicate: object, timeout: float = PLUG
         ) -> GuestReport:
    serial.mark()
    report = serial.wait_for(predicate, timeout)  # type: ignore[arg-type]
    assert report is not None, f"guest never reported {what}: {serial.text()[-1500:]}"
    return report


def standby_only(r: GuestReport) -> bool:
    return bool(r.master and r.standby) and r.primary is None


def bonded(r: GuestReport) -> bool:
    return r.bonded and r.primary_driver == "e1000e"


def test_attach_detach_reattach_transient_partner(host: Host, guest_image: GuestImage,
                                                  tmp_path: Path) -> None:
    serial = define_standby_only(host, guest_image, tmp_path)
    primary = tmp_path / "primary.xml"
    primary.write_text(PRIMARY_XML)
    mac = demo_mac("g1")
    mac_only = tmp_path / "mac.xml"
    mac_only.write_text(f"<interface type='user'><mac address='{mac}'/></interface>\n")
    host.run("start", "g1")
    first = serial.wait_for(lambda r: standby_only(r) and r.probe_ok >= 3, BOOT)
    assert first is not None, f"guest never came up on its standby: {serial.text()[-1500:]}"
    standby = Nic(PERSISTENT_ALIAS, mac, "0x01", False)
    assert dumps(host) == ([standby], [standby])

    # attach the transient partner to the running guest: live only (--current)
    out = host.run("attach-device", "g1", str(primary)).stdout
    assert out == "Device attached successfully\n"
    report = wait(serial, "a bond with its e1000e primary", bonded)
    assert report.mac == mac
    plugged = Nic(TRANSIENT_ALIAS, mac, "0x03", True)  # the spare root port, MAC inherited
    assert dumps(host) == ([standby, plugged], [standby])
    [pair] = json.loads(host.run("domfailover", "g1", "--json").stdout)
    assert pair["negotiated"] is True and pair["plugged"] is True

    # the pair shares its MAC: refused, nothing changes
    proc = host.run("detach-device", "g1", str(mac_only), check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: operation failed: multiple devices matching MAC "
                                  f"address {mac} found: the teaming pair 'ua-net0' and "
                                  "'ua-net0-primary' shares it")
    assert "detach-device-alias g1 ua-net0-primary" in proc.stderr
    proc = host.run("detach-device-alias", "g1", PERSISTENT_ALIAS, check=False)
    assert proc.returncode == 1 and "while its transient partner" in proc.stderr
    assert dumps(host) == ([standby, plugged], [standby])

    # detach it: the guest falls back to the standby and keeps answering
    out = host.run("detach-device-alias", "g1", TRANSIENT_ALIAS).stdout
    assert out == "Device detached successfully\n"
    assert dumps(host) == ([standby], [standby])
    fallback = wait(serial, "the fall-back to its standby", standby_only)
    answering = wait(serial, "probe replies on the standby",
                     lambda r: standby_only(r) and r.probe_ok >= fallback.probe_ok + 5)
    assert answering.master == fallback.master

    # attach it again, to the running guest and the stored definition
    host.run("attach-device", "g1", str(primary), "--persistent")
    wait(serial, "a bond again", bonded)
    assert dumps(host) == ([standby, plugged], [standby, plugged])

    # both members in one request: transient unplugged first, then plugged last
    both = tmp_path / "both.xml"
    both.write_text(f"<devices><interface type='user'><alias name='{PERSISTENT_ALIAS}'/>"
                    f"</interface>{PRIMARY_XML}</devices>\n")
    host.run("detach-device", "g1", str(both), "--live")
    assert dumps(host) == ([], [standby, plugged])
    wait(serial, "no NIC at all", lambda r: r.master is None and r.standby is None)
    pair_xml = tmp_path / "pair.xml"
    pair_xml.write_text(f"<devices>{PRIMARY_XML}<interface type='user'><mac address='{mac}'/>"
                        f"<model type='virtio'/><teaming type='persistent'/><alias "
                        f"name='{PERSISTENT_ALIAS}'/></interface></devices>\n")
    host.run("attach-device", "g1", str(pair_xml), "--live")
    wait(serial, "a bond of the re-plugged pair", bonded)
    assert dumps(host) == ([standby, plugged], [standby, plugged])
    host.run("destroy", "g1")


def test_config_edits_of_a_shut_off_domain(host: Host, guest_image: GuestImage,
                                           tmp_path: Path) -> None:
    define_standby_only(host, guest_image, tmp_path)
    primary = tmp_path / "primary.xml"
    primary.write_text(PRIMARY_XML)
    mac = demo_mac("g1")
    host.run("attach-device", "g1", str(primary))  # --current: the stored definition
    standby, plugged = Nic(PERSISTENT_ALIAS, mac, "0x01", False), \
        Nic(TRANSIENT_ALIAS, mac, "0x03", True)
    assert nics(host.run("dumpxml", "--inactive", "g1").stdout) == [standby, plugged]
    proc = host.run("attach-device", "g1", str(primary), "--live", check=False)
    assert proc.stderr == "error: Requested operation is not valid: domain is not running\n"
    proc = host.run("detach-device-alias", "g1", PERSISTENT_ALIAS, "--config", check=False)
    assert "while its transient partner interface 'ua-net0-primary'" in proc.stderr
    host.run("detach-device-alias", "g1", TRANSIENT_ALIAS, PERSISTENT_ALIAS, "--config")
    assert nics(host.run("dumpxml", "--inactive", "g1").stdout) == []

    # the same through the Python API
    dom = libvirt.open(host.uri).lookupByName("g1")
    pair = f"<devices>{PRIMARY_XML}<interface type='user'><mac address='{mac}'/><model " \
        f"type='virtio'/><teaming type='persistent'/><alias name='{PERSISTENT_ALIAS}'/>" \
        "</interface></devices>"
    assert dom.attachDeviceFlags(pair, libvirt.VIR_DOMAIN_AFFECT_CONFIG) == 0
    assert nics(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) == [standby, plugged]
    with pytest.raises(libvirt.libvirtError, match="multiple devices matching MAC address"):
        dom.detachDeviceFlags(f"<interface type='user'><mac address='{mac}'/></interface>")
    with pytest.raises(libvirt.libvirtError, match="domain is not running"):
        dom.attachDevice(PRIMARY_XML)
    down = f"<interface type='user'><alias name='{TRANSIENT_ALIAS}'/><link state='down'/>" \
        "</interface>"
    assert dom.updateDeviceFlags(down, 0) == 0
    assert "<link state='down'/>" in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert dom.detachDeviceAlias(TRANSIENT_ALIAS, libvirt.VIR_DOMAIN_AFFECT_CONFIG) == 0
    assert nics(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) == [standby]


def test_unplug_the_guest_ignores_stays_in_the_live_definition(
        host: Host, guest_image: GuestImage, tmp_path: Path) -> None:
    serial = tmp_path / "g1.serial"
    xml = tmp_path / "g1.xml"  # the full demo pair; the guest never ejects the primary
    xml.write_text(demo_domain_xml("g1", guest_image, serial, kernel_args="pyvirt.nounplug=1"))
    host.run("define", str(xml))
    log = SerialLog(serial)
    host.run("start", "g1")
    assert log.wait_for(bonded, BOOT) is not None, log.text()[-1500:]
    mac = demo_mac("g1")
    standby, plugged = Nic(PERSISTENT_ALIAS, mac, "0x01", False), \
        Nic(TRANSIENT_ALIAS, mac, "0x02", True)
    assert dumps(host) == ([standby, plugged], [standby, plugged])
    for _attempt in range(2):  # the second request finds the first one still pending
        out = host.run("detach-device-alias", "g1", TRANSIENT_ALIAS, "--timeout", "2").stdout
        assert out == "Device detach request sent successfully\n"
        assert dumps(host) == ([standby, plugged], [standby, plugged])
    proc = host.run("detach-device-alias", "g1", PERSISTENT_ALIAS, check=False)
    assert "while its transient partner interface 'ua-net0-primary'" in proc.stderr
    [pair] = json.loads(host.run("domfailover", "g1", "--json").stdout)
    assert pair["plugged"] is True
    host.run("destroy", "g1")
