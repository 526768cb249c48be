"""Ansible across hosts: ``community.libvirt.virt`` (from the ``ansible`` package) defines
and starts a teamed guest on each of two pyvirt hosts through ``qemu+ssh://`` URIs, with
``import libvirt`` resolving to pyvirt (pyvirt.compat); then ``pyvirt evacuate`` empties
one host onto the other, and the guests' own reports show they kept running and
re-bonded. The hosts are two sshds (two state roots) in a network namespace the test
makes; Ansible, pyvirt and QEMU all run inside it."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyvirt.compat import LIBVIRT_PATH
from pyvirt.guest.build import GuestImage
from pyvirt.guest.report import SerialLog
from pyvirt.guest.xml import demo_domain_xml
from tests.e2e.conftest import (
    PYVIRT,
    Host,
    needs_qemu,
    needs_ssh_namespaces,
    remove_namespace,
    start_sshd,
)

BIN = Path(sys.executable).parent
pytestmark = [
    pytest.mark.e2e, needs_qemu,
    *needs_ssh_namespaces,
    pytest.mark.skipif(not (BIN / "ansible-playbook").exists(),
                       reason="ansible is not installed (it is in the dev extra)"),
]

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{python}"
  environment:
    PYTHONPATH: "{shim}"
  tasks:
{tasks}
"""

TASKS = """
    - name: define {name} on {host}
      community.libvirt.virt:
        command: define
        xml: "{{{{ lookup('file', '{xml}') }}}}"
        uri: "{uri}"
    - name: start {name}
      community.libvirt.virt:
        name: {name}
        state: running
        uri: "{uri}"
    - name: status of {name}
      community.libvirt.virt:
        command: status
        name: {name}
        uri: "{uri}"
      register: status_{name}
    - name: {name} runs
      ansible.builtin.assert:
        that: status_{name}.status == "running"
    - name: list on {host}
      community.libvirt.virt:
        command: list_vms
        uri: "{uri}"
      register: vms_{name}
    - name: {name} is listed
      ansible.builtin.assert:
        that: "'{name}' in vms_{name}.list_vms"
"""


@dataclass
class Fleet:
    namespace: str
    uris: dict[str, str]
    hosts: dict[str, Host]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    ns = f"pyvirt-f-{secrets.token_hex(3)}"
    sshds = []
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
                       check=True, capture_output=True)
        uris, hosts = {}, {}
        for name in ("a", "b"):
            port = 2300 + secrets.randbelow(300) + (0 if name == "a" else 400)
            work = tmp_path / f"ssh-{name}"
            work.mkdir()
            sshd, key = start_sshd(ns, "127.0.0.1", work, port=port)
            sshds.append(sshd)
            hosts[name] = Host(tmp_path / f"host-{name}", netns=ns)
            uris[name] = (f"qemu+ssh://root@127.0.0.1:{port}/embed?root={hosts[name].root}"
                          f"&keyfile={key}&no_verify=1&command={BIN / 'pyvirt'}")
        yield Fleet(ns, uris, hosts)
    finally:
        for sshd in sshds:
            sshd.kill()
            sshd.wait()
        remove_namespace(ns)


def test_ansible_places_guests_on_two_hosts_and_evacuate_empties_one(
        fleet: Fleet, guest_image: GuestImage, tmp_path: Path) -> None:
    logs, tasks = {}, []
    for name, host in (("g1", "a"), ("g2", "b"), ("g3", "a")):
        xml = tmp_path / f"{name}.xml"
        xml.write_text(demo_domain_xml(name, guest_image, tmp_path / f"{name}.serial"))
        logs[name] = SerialLog(tmp_path / f"{name}.serial", from_end=False)
        tasks.append(TASKS.format(name=name, host=host, xml=xml, uri=fleet.uris[host]))
    playbook = tmp_path / "fleet.yml"
    playbook.write_text(PLAYBOOK.format(python=sys.executable, shim=LIBVIRT_PATH,
                                        tasks="".join(tasks)))
    env = {**os.environ, "ANSIBLE_LOCALHOST_WARNING": "false",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false", "ANSIBLE_NOCOLOR": "1"}
    try:
        played = subprocess.run(["ip", "netns", "exec", fleet.namespace,
                                 str(BIN / "ansible-playbook"), "-i", "localhost,",
                                 str(playbook)], capture_output=True, text=True, env=env,
                                timeout=600)
        assert played.returncode == 0, played.stdout[-3000:] + played.stderr[-2000:]
        assert "failed=0" in played.stdout
        a, b = fleet.hosts["a"], fleet.hosts["b"]
        assert len(a.qemu_pids()) == 2 and len(b.qemu_pids()) == 1
        for log in logs.values():
            assert log.wait_for(lambda r: r.bonded and r.probe_ok > 0, 120) is not None
            log.mark()
        moved = subprocess.run(
            ["ip", "netns", "exec", fleet.namespace, *PYVIRT, "-c", fleet.uris["a"],
             "evacuate", fleet.uris["b"]], capture_output=True, text=True, timeout=600)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert "Evacuated 2 of 2 domains; 0 stayed on this host." in moved.stdout
        assert a.qemu_pids() == [] and len(b.qemu_pids()) == 3
        for name in ("g1", "g3"):  # kept running, re-bonded on host b
            back = logs[name].wait_for(lambda r: r.bonded and r.probe_ok > 0, 90)
            assert back is not None, f"{name} did not re-bond after the evacuation"
            assert b.run("domstate", name).stdout.strip() == "running"
    finally:
        for host in fleet.hosts.values():
            host.kill_all()
