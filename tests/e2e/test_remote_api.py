"""``pyvirt.open("qemu+ssh://...")``: the API of another host through one ssh connection.
The remote host is a network namespace the test makes (tests/e2e/test_remote_cli.py's
``remote`` fixture); the client runs inside it too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyvirt.guest.build import GuestImage
from pyvirt.guest.xml import demo_domain_xml
from tests.e2e.conftest import Host, needs_qemu
from tests.e2e.test_remote_cli import REMOTE_PYVIRT, Remote, remote  # noqa: F401 (fixture)

pytestmark = [pytest.mark.e2e, needs_qemu]

CLIENT = """
import json, sys
import pyvirt as libvirt
conn = libvirt.open(sys.argv[1])
dom = conn.defineXML(open(sys.argv[2]).read())
dom.create()
seen = {"state": dom.state(), "cpu": dom.info()[4], "active": dom.isActive(),
        "names": sorted(d.name() for d in conn.listAllDomains()),
        "uri": conn.getURI(), "same": conn.lookupByName("g").UUIDString() == dom.UUIDString()}
try:
    conn.lookupByName("nosuch")
except libvirt.libvirtError as err:
    seen["missing"] = [err.get_error_code(), str(err)]
dom.destroy()
seen["after"] = dom.state()
dom.undefine()
seen["left"] = conn.listDefinedDomains()
conn.close()
print(json.dumps(seen))
"""


def test_the_api_of_a_remote_host(remote: Remote, guest_image: GuestImage,  # noqa: F811
                                  tmp_path: Path) -> None:
    there = Host(tmp_path / "there")
    uri = remote.uri(there.root, command=str(REMOTE_PYVIRT))
    xml = tmp_path / "g.xml"
    xml.write_text(demo_domain_xml("g", guest_image, tmp_path / "g.serial"))
    try:
        proc = subprocess.run(["ip", "netns", "exec", remote.namespace, sys.executable, "-c",
                               CLIENT, uri, str(xml)], capture_output=True, text=True,
                              timeout=180)
        assert proc.returncode == 0, proc.stderr
        seen = json.loads(proc.stdout)
        assert seen["state"] == [1, 1] and seen["active"] == 1 and seen["same"] is True
        assert seen["names"] == ["g"] and seen["uri"] == f"qemu:///embed?root={there.root}"
        assert seen["missing"] == [42, "Domain not found: no domain with matching name "
                                        "'nosuch'"]
        assert seen["after"] == [5, 2] and seen["left"] == []
        assert there.qemu_pids() == []
    finally:
        there.kill_all()
