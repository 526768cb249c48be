"""No option injection: values from the XML reach QEMU as exactly one value each.

Names, aliases, paths and MACs containing ``,`` ``=`` quotes, newlines or JSON
metacharacters are either refused by validation (with a one-line error) or encoded so
that QEMU decodes exactly the original value and nothing else (tests/hardening/
injection.py). The last test starts a real QEMU (``-S``) for such definitions and asks
it over QMP which devices, chardevs, block nodes and name it really has.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from lxml import etree

from pyvirt.domain.defaults import mac_factory
from pyvirt.domain.io import domain_from_xml
from pyvirt.errors import PyvirtError
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.command import BuildEnv, build_command
from pyvirt.qemu.define import prepare_definition
from pyvirt.qemu.tapnic import fixed_fd_plan
from pyvirt.runtime.status import RunDir
from tests.e2e.conftest import Host, needs_qemu
from tests.hardening.injection import leaves, shape
from tests.hardening.util import QmpSession, small_domain_xml

CAPS = QemuCaps.from_json((Path(__file__).parent.parent / "data" / "caps" /
                           "qemu-7.2-x86_64.json").read_text())

HOSTILE = [
    "a,b", "a,,b", "a=b", "x,id=evil", "x,,id=evil", ",", "=", "a\"b", "a'b", "a\\b",
    '"},{"driver":"virtio-net-pci","id":"evil', "{}[]:", "a;b $(id) `id`", "-device",
    "a b", "é✓𝄞", "a\nb", "a\tb", "a\rb", "x\"},\"id\":\"evil",
]

BENIGN = {
    "name": "benign", "kernel": "/k/vmlinuz", "initrd": "/k/initrd", "cmdline": "console=ttyS0",
    "disk": "/img/disk.raw", "serial": "/log/serial", "serial_log": "/log/serial.log",
    "rng": "/dev/urandom", "rom": "/roms/x.rom", "tap": "tap0", "alias": "ua-net0",
    "mac": "52:54:00:00:00:01", "machine": "q35", "cpu": "qemu64", "vnc": "127.0.0.1",
    "uuid": "4dea22b3-1d52-d8f3-2516-782e98ab3fa0", "root": "/run/pyvirt-root",
}
# Fields whose value is data for QEMU (a name or a path): libvirt accepts such values,
# so pyvirt may too, provided QEMU decodes them exactly.
ENCODED = ("name", "kernel", "initrd", "cmdline", "disk", "serial", "serial_log", "rng",
           "rom", "tap", "root")
# Fields with a grammar of their own: anything hostile must be refused.
REFUSED = ("alias", "mac", "machine", "cpu", "vnc", "uuid")


def domain_xml(values: dict[str, str]) -> str:
    """A q35 domain using every field above; lxml escapes each value as XML."""
    v = values
    dom = etree.Element("domain", type="qemu")
    etree.SubElement(dom, "name").text = v["name"]
    etree.SubElement(dom, "uuid").text = v["uuid"]
    etree.SubElement(dom, "memory", unit="MiB").text = "64"
    os_el = etree.SubElement(dom, "os")
    etree.SubElement(os_el, "type", arch="x86_64", machine=v["machine"]).text = "hvm"
    etree.SubElement(os_el, "kernel").text = v["kernel"]
    etree.SubElement(os_el, "initrd").text = v["initrd"]
    etree.SubElement(os_el, "cmdline").text = v["cmdline"]
    cpu = etree.SubElement(dom, "cpu", mode="custom")
    etree.SubElement(cpu, "model").text = v["cpu"]
    devices = etree.SubElement(dom, "devices")
    etree.SubElement(devices, "emulator").text = "/usr/bin/qemu-system-x86_64"
    disk = etree.SubElement(devices, "disk", type="file", device="disk")
    etree.SubElement(disk, "source", file=v["disk"])
    etree.SubElement(disk, "target", dev="vda", bus="virtio")
    standby = etree.SubElement(devices, "interface", type="user")
    etree.SubElement(standby, "mac", address=v["mac"])
    etree.SubElement(standby, "model", type="virtio")
    etree.SubElement(standby, "teaming", type="persistent")
    etree.SubElement(standby, "alias", name=v["alias"])
    primary = etree.SubElement(devices, "interface", type="user")
    etree.SubElement(primary, "model", type="e1000e")
    etree.SubElement(primary, "teaming", type="transient", persistent=v["alias"])
    tap = etree.SubElement(devices, "interface", type="ethernet")
    etree.SubElement(tap, "target", dev=v["tap"])
    etree.SubElement(tap, "model", type="virtio")
    etree.SubElement(tap, "rom", file=v["rom"])
    serial = etree.SubElement(devices, "serial", type="file")
    etree.SubElement(serial, "source", path=v["serial"])
    etree.SubElement(serial, "log", file=v["serial_log"])
    etree.SubElement(devices, "graphics", type="vnc", port="5901", listen=v["vnc"])
    rng = etree.SubElement(devices, "rng", model="virtio")
    etree.SubElement(rng, "backend", model="random").text = v["rng"]
    return etree.tostring(dom, encoding="unicode")


def build(values: dict[str, str]) -> tuple[str, ...]:
    """The argv ``start`` would run, with the runtime's paths under ``values['root']``.

    :raises PyvirtError: when validation or the builder refuses the values.
    """
    domain = prepare_definition(domain_from_xml(domain_xml(values)), CAPS,
                                mac_factory(lambda n: b"\x01\x02\x03"[:n]))
    rd = RunDir(Path(values["root"]) / "run" / "qemu" / f"domain-{domain.name}")
    env = BuildEnv(qmp_socket=rd.monitor_argument, pidfile=rd.pidfile,
                   nic_fds=fixed_fd_plan(domain))  # the tap the runtime would have made
    return build_command(domain, CAPS, env).argv


def expected_leaf(field: str, value: str) -> str:
    if field == "root":
        return f"{value}/run/qemu/domain-benign/qemu/monitor.sock"
    return value


def test_the_benign_domain_builds() -> None:
    argv = build(BENIGN)
    assert "-sandbox" in argv and BENIGN["serial"] in leaves(argv)


@pytest.mark.parametrize("hostile", HOSTILE, ids=repr)
@pytest.mark.parametrize("field", ENCODED)
def test_data_values_are_refused_or_decoded_exactly(field: str, hostile: str) -> None:
    value = f"/p/{hostile}" if field in ("kernel", "initrd", "disk", "serial",
                                         "serial_log", "rng", "rom", "root") else hostile
    try:
        argv = build({**BENIGN, field: value})
    except PyvirtError as err:
        assert field in ("name", "tap", "cmdline"), f"{field}={value!r} refused: {err}"
        return
    benign = build(BENIGN)
    assert shape(argv) == shape(benign), f"{field}={value!r} changed the command's shape"
    if field == "tap":  # the tap is made by the runtime and fd-passed: QEMU never sees it
        assert value not in leaves(argv)
    else:
        assert expected_leaf(field, value) in leaves(argv), \
            f"{field}={value!r} not decoded exactly"
    assert argv[0] == "/usr/bin/qemu-system-x86_64"


def test_names_with_control_characters_are_refused() -> None:
    for bad in ("a\nb", "a\tb", "a\rb", "a\x7fb", "a/b"):
        with pytest.raises(PyvirtError):
            build({**BENIGN, "name": bad})


# "-device" and letters are harmless inside an alias, a CPU model or a host name
METACHARACTERS = [h for h in HOSTILE if h not in ("-device", "é✓𝄞")]


@pytest.mark.parametrize("hostile", METACHARACTERS, ids=repr)
@pytest.mark.parametrize("field", REFUSED)
def test_values_with_a_grammar_are_refused(field: str, hostile: str) -> None:
    value = {"alias": f"ua-{hostile}", "mac": f"52:54:00:00:00:01{hostile}",
             "machine": f"q35{hostile}", "cpu": f"qemu64{hostile}",
             "vnc": f"127.0.0.1{hostile}", "uuid": BENIGN["uuid"] + hostile}[field]
    with pytest.raises(PyvirtError):
        build({**BENIGN, field: value})


# --------------------------------------------------------------------- on a real QEMU

REAL_NAME = "n,id=evil,,x=\"y'{z}[w]\\v;$(id) é"
REAL_FILE = "f,id=evil,,path=etc=x\"q'{}\\ é"


def peripherals(session: QmpSession, path: str) -> list[str]:
    return sorted(child["name"] for child in session.execute("qom-list", path=path)
                  if child["type"].startswith("child<"))


def start_and_inspect(host: Host, tmp: Path, name: str, file_part: str) -> dict[str, object]:
    files = tmp / f"files-{len(list(tmp.iterdir()))}"
    files.mkdir()
    disk = files / f"disk-{file_part}.raw"
    disk.write_bytes(b"\0" * 1024 * 1024)
    serial, log = files / f"serial-{file_part}", files / f"log-{file_part}"
    xml = files.parent / f"{files.name}.xml"
    xml.write_text(small_domain_xml(name, serial=serial, serial_log=log, disk=disk))
    host.run("define", str(xml))
    host.run("start", "--paused", name)
    monitor = next((host.root / "run" / "qemu" / f"domain-{name}").rglob("monitor.sock"))
    try:
        with QmpSession(monitor) as qmp:
            nodes = qmp.execute("query-named-block-nodes", flat=True)
            seen = {
                "name": qmp.execute("query-name").get("name"),
                "peripheral": peripherals(qmp, "/machine/peripheral"),
                "anonymous": len(peripherals(qmp, "/machine/peripheral-anon")),
                "chardevs": sorted(c["label"] for c in qmp.execute("query-chardev")),
                "files": sorted(n["file"] for n in nodes if n["drv"] == "file"),
                "pci": sorted(str(d.get("qdev_id", "")) for d in
                              qmp.execute("query-pci")[0]["devices"]),
            }
    finally:
        host.run("destroy", name)
    seen["created"] = sorted(p.name for p in files.iterdir())
    seen["disk"], seen["serial"], seen["log"] = str(disk), serial.name, log.name
    return seen


@pytest.mark.e2e
@needs_qemu
def test_real_qemu_has_only_the_intended_devices(tmp_path: Path) -> None:
    """The same guest with benign and with hostile name, paths and state root: QEMU
    reports the hostile values verbatim and the very same devices, chardevs and nodes."""
    results = []
    # a short base: an absolute monitor socket path (under 108 bytes), the common case
    base = Path(tempfile.mkdtemp(prefix="inj", dir="/tmp"))
    for name, file_part, root in (("plain", "plain", "r"), (REAL_NAME, REAL_FILE, "r,id=x,,y=z")):
        host = Host(base / root)
        try:
            results.append(start_and_inspect(host, tmp_path, name, file_part))
        finally:
            leftovers = host.qemu_pids()
            host.kill_all()
        assert leftovers == []
    shutil.rmtree(base)
    plain, hostile = results
    assert hostile["name"] == REAL_NAME
    assert hostile["files"] == [hostile["disk"]]
    assert hostile["created"] == sorted([f"disk-{REAL_FILE}.raw", str(hostile["serial"]),
                                         str(hostile["log"])])
    for key in ("peripheral", "anonymous", "chardevs", "pci"):
        assert hostile[key] == plain[key], key
    assert "evil" not in repr(hostile["peripheral"]) + repr(hostile["chardevs"])
    # every device the definition asks for, except the failover primary, which QEMU keeps
    # hidden until the guest negotiates failover on its standby
    assert plain["peripheral"] == ["pci.1", "pci.2", "pci.3", "pci.4", "pci.5", "serial0",
                                   "ua-net0", "usb", "virtio-disk0"]


def test_cli_error_for_a_value_with_a_newline_is_one_line(tmp_path: Path) -> None:
    xml = tmp_path / "nl.xml"
    xml.write_text(domain_xml({**BENIGN, "alias": "ua-a\nb\nerror: forged"}))
    proc = Host(tmp_path / "root").run("validate", str(xml), check=False)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
