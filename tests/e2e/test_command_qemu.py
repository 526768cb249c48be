"""The built command line really starts QEMU, and QEMU pairs the failover NICs.

A q35 guest with a persistent virtio standby (``ua-net0``) and an emulated e1000e
transient member (pyvirt's extension), user-mode networking, no disk, paused (``-S``).
QEMU must list the standby under ``/machine/peripheral`` and keep the primary hidden,
because no guest has negotiated VIRTIO_NET_F_STANDBY (qemu-failover.md §1, §8 item 8:
``query-pci`` is useless before firmware runs, ``qom-list`` is not).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from lxml import etree
from qemu.qmp import QMPClient

from pyvirt.domain.model import Domain
from pyvirt.domain.xml.domain import parse_domain
from pyvirt.qemu.command import BuildEnv, QemuCommand, build_command
from pyvirt.runtime.probe import probe_sync

pytestmark = pytest.mark.e2e

QEMU = shutil.which("qemu-system-x86_64")
CONNECT_TIMEOUT = 30.0

ROOT_PORTS = "".join(
    f"<controller type='pci' index='{i}' model='pcie-root-port'><model name='pcie-root-port'/>"
    f"<target chassis='{i}' port='0x{7 + i:x}'/><address type='pci' domain='0x0000' "
    f"bus='0x00' slot='0x01' function='0x{i - 1:x}'{mf}/></controller>"
    for i, mf in ((1, " multifunction='on'"), (2, ""), (3, "")))

TEAMED_DOMAIN = f"""
<domain type='qemu'>
  <name>command-e2e</name>
  <memory unit='KiB'>131072</memory>
  <vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <clock offset='utc'/>
  <devices>
    <emulator>{QEMU}</emulator>
    <controller type='usb' index='0' model='qemu-xhci'>
      <address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>
    </controller>
    <controller type='sata' index='0'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x2'/>
    </controller>
    <controller type='pci' index='0' model='pcie-root'/>
    {ROOT_PORTS}
    <interface type='user'>
      <mac address='52:54:00:12:34:56'/><model type='virtio'/>
      <teaming type='persistent'/><alias name='ua-net0'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <interface type='user'>
      <mac address='52:54:00:12:34:56'/><model type='e1000e'/>
      <teaming type='transient' persistent='ua-net0'/><alias name='ua-primary0'/>
      <address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>
    </interface>
    <input type='mouse' bus='ps2'/><input type='keyboard' bus='ps2'/>
    <audio id='1' type='none'/>
    <memballoon model='none'/>
  </devices>
</domain>"""


def teamed_domain() -> Domain:
    return parse_domain(etree.fromstring(TEAMED_DOMAIN.encode()))


async def peripherals(socket: Path, proc: subprocess.Popen[bytes]) -> set[str]:
    """Names under /machine/peripheral, then ask QEMU to quit."""
    client = QMPClient("pyvirt-command-e2e")
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while True:  # QEMU creates the socket a few ms after it starts
        try:
            await client.connect(str(socket))
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)
    try:
        entries = await client.execute("qom-list", {"path": "/machine/peripheral"})
        assert isinstance(entries, list)
        with contextlib.suppress(Exception):  # the connection drops as QEMU exits
            await client.execute("quit")
    finally:
        with contextlib.suppress(Exception):  # re-raises the reader's EOFError
            await client.disconnect()
    return {str(entry["name"]) for entry in entries}


@pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed")
def test_qemu_hides_the_primary_until_failover_is_negotiated(tmp_path: Path) -> None:
    assert QEMU is not None
    caps = probe_sync(QEMU)
    socket = tmp_path / "qmp.sock"
    command: QemuCommand = build_command(teamed_domain(), caps, BuildEnv(
        qmp_socket=socket, pidfile=tmp_path / "qemu.pid"))
    assert "-S" in command.argv
    log = tmp_path / "qemu.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command.argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        names = asyncio.run(peripherals(socket, proc))
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    output = log.read_text(errors="replace")
    assert "ua-net0" in names, output
    assert "ua-primary0" not in names, output
    assert {"pci.1", "pci.2", "pci.3", "usb"} <= names
    assert proc.returncode == 0, output
