"""The QEMU command builder against libvirt 9.0's own argv, QEMU's device properties,
option injection, and libvirt's automatic aliases.

The conformance inputs are the ``*.formatted.xml`` files (what libvirt's define
produced), so they exercise the builder alone, not pyvirt's defaults and placement.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Sequence
from pathlib import Path

import pytest
from lxml import etree

from pyvirt.domain.model import Domain
from pyvirt.domain.xml.domain import parse_domain
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.qemu.aliases import assign_aliases, disk_index
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.command import BuildEnv, NicFds, QemuCommand, build_command

CAPS_FIXTURE = Path(__file__).parents[1] / "data" / "caps" / "qemu-7.2-x86_64.json"
CONFORMANCE = Path(__file__).resolve().parents[1] / "data" / "conformance"
CONFORMANCE_CASES = ("q35-teaming", "q35-teaming-plainhostdev")
ENV = BuildEnv(qmp_socket=Path("/run/pyvirt/qemu/domain-QEMUGuest1/qemu/monitor.sock"))

# Options whose every line must equal libvirt's, in order.
DEVICE_OPTIONS = ("-device", "-netdev", "-blockdev")
SINGLE_OPTIONS = ("-machine", "-accel", "-cpu", "-m", "-smp", "-uuid", "-rtc", "-boot",
                  "-audiodev", "-sandbox", "-msg")
ALWAYS_ALLOWED_PROPS = frozenset({"driver", "id", "bus", "addr"})



@pytest.fixture(scope="module")
def caps() -> QemuCaps:
    return QemuCaps.from_json(CAPS_FIXTURE.read_text())


def read_args_file(path: Path) -> tuple[str, ...]:
    """libvirt's ``.args``: one option per line ending in `` \\``, shell single quotes;
    the leading ``NAME=value`` environment lines are dropped."""
    argv: list[str] = []
    for line in path.read_text().splitlines():
        argv += shlex.split(line.removesuffix(" \\"))
    while argv and "=" in argv[0] and not argv[0].startswith("/"):
        argv.pop(0)
    return tuple(argv)


def option_lines(argv: Sequence[str], *names: str) -> list[tuple[str, ...]]:
    return [g for g in QemuCommand(tuple(argv)).option_lines()[1:] if g[0] in names]


def device_objects(argv: Sequence[str]) -> list[dict[str, object]]:
    return [json.loads(g[1]) for g in option_lines(argv, "-device")]


def assert_device_props_known(argv: Sequence[str], caps: QemuCaps) -> None:
    """Every ``-device`` names a driver the binary has, with properties it lists.

    ``driver``, ``id``, ``bus`` and ``addr`` are qdev's own and always allowed.
    Reusable by golden tests: pass any built argv and the caps it was built with.
    """
    for device in device_objects(argv):
        driver = str(device["driver"])
        assert caps.has_device(driver), f"{driver} is not a device of {caps.binary}"
        unknown = set(device) - ALWAYS_ALLOWED_PROPS - caps.device_props[driver]
        assert not unknown, f"{driver} has no properties {sorted(unknown)}"


def load_xml(path: Path) -> Domain:
    return parse_domain(etree.parse(str(path)).getroot())


def domain_from_text(text: str) -> Domain:
    return parse_domain(etree.fromstring(text.encode()))


def q35_domain(devices: str, extra: str = "", machine: str = "q35") -> Domain:
    """A placed q35 (or pc) domain: three root ports (pci.1-3), xhci on pci.3."""
    ports = "".join(
        f"<controller type='pci' index='{i}' model='pcie-root-port'>"
        f"<model name='pcie-root-port'/><target chassis='{i}' port='0x{7 + i:x}'/>"
        f"<address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='{i - 1}'/>"
        "</controller>" for i in (1, 2, 3))
    return domain_from_text(f"""
<domain type='qemu'><name>guest</name><memory unit='KiB'>131072</memory>
  <os><type arch='x86_64' machine='{machine}'>hvm</type>{extra}</os>
  <cpu mode='custom'><model>qemu64</model></cpu>
  <devices>
    <controller type='pci' index='0' model='pcie-root'/>{ports}
    <controller type='usb' index='0' model='qemu-xhci'>
      <address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>
    </controller>
    <controller type='sata' index='0'/>
    {devices}
    <audio id='1' type='none'/>
  </devices>
</domain>""")


TEAM_NICS = """
<interface type='user'><mac address='52:54:00:12:34:56'/><model type='virtio'/>
  <teaming type='persistent'/><alias name='ua-net0'/>
  <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></interface>
<interface type='user'><mac address='52:54:00:12:34:56'/><model type='e1000e'/>
  <teaming type='transient' persistent='ua-net0'/>
  <address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/></interface>
"""


# --- libvirt conformance ----------------------------------------------------------


@pytest.mark.parametrize("name", CONFORMANCE_CASES)
def test_device_lines_match_libvirt(name: str, caps: QemuCaps) -> None:
    expected = read_args_file(CONFORMANCE / f"{name}.qemu-8.0-caps.args")
    built = build_command(load_xml(CONFORMANCE / f"{name}.formatted.xml"), caps, ENV).argv
    assert option_lines(built, *DEVICE_OPTIONS) == option_lines(expected, *DEVICE_OPTIONS)


@pytest.mark.parametrize("name", CONFORMANCE_CASES)
def test_guest_options_match_libvirt(name: str, caps: QemuCaps) -> None:
    expected = read_args_file(CONFORMANCE / f"{name}.qemu-8.0-caps.args")
    built = build_command(load_xml(CONFORMANCE / f"{name}.formatted.xml"), caps, ENV).argv
    for option in SINGLE_OPTIONS:
        assert option_lines(built, option) == option_lines(expected, option), option

    def backends(argv: Sequence[str]) -> list[tuple[str, ...]]:
        return [g for g in option_lines(argv, "-object") if "memory-backend" in g[1]]
    assert backends(built) == backends(expected)


@pytest.mark.parametrize("name", CONFORMANCE_CASES)
def test_whole_argv_matches_libvirt_but_harness_lines(name: str, caps: QemuCaps) -> None:
    """Only the master-key secret and the monitor's fd (test harness) differ."""
    def comparable(argv: Sequence[str]) -> list[tuple[str, ...]]:
        return [g for g in QemuCommand(tuple(argv)).option_lines()
                if not (g[0] == "-object" and '"secret"' in g[1])
                and not (g[0] == "-chardev" and "id=charmonitor" in g[1])]
    expected = read_args_file(CONFORMANCE / f"{name}.qemu-8.0-caps.args")
    built = build_command(load_xml(CONFORMANCE / f"{name}.formatted.xml"), caps, ENV).argv
    assert comparable(built) == comparable(expected)
    assert option_lines(built, "-chardev") == [
        ("-chardev", f"socket,id=charmonitor,path={ENV.qmp_socket},server=on,wait=off")]


@pytest.mark.parametrize("name", CONFORMANCE_CASES)
def test_conformance_devices_exist_in_qemu(name: str, caps: QemuCaps) -> None:
    domain = load_xml(CONFORMANCE / f"{name}.formatted.xml")
    assert_device_props_known(build_command(domain, caps, ENV).argv, caps)


# --- teaming ----------------------------------------------------------------------


def test_emulated_transient_member_gets_failover_pair_id(caps: QemuCaps) -> None:
    argv = build_command(q35_domain(TEAM_NICS), caps, ENV).argv
    standby, primary = (d for d in device_objects(argv)
                        if d["driver"] in ("virtio-net-pci", "e1000e"))
    assert list(standby) == ["driver", "failover", "netdev", "id", "mac", "bus", "addr"]
    # "ua-net0" is not of the form netN, so the primary is the first automatic net0
    assert primary == {"driver": "e1000e", "netdev": "hostnet0", "id": "net0",
                       "mac": "52:54:00:12:34:56", "failover_pair_id": "ua-net0",
                       "bus": "pci.2", "addr": "0x0"}
    assert list(primary) == ["driver", "netdev", "id", "mac", "failover_pair_id", "bus",
                             "addr"]
    assert_device_props_known(argv, caps)


def test_failover_needs_the_property(caps: QemuCaps) -> None:
    props = {name: p - {"failover", "failover_pair_id"} for name, p in caps.device_props.items()}
    old = dataclasses.replace(caps, device_props=props)
    with pytest.raises(ConfigUnsupportedError, match="failover"):
        build_command(q35_domain(TEAM_NICS), old, ENV)


def test_tap_nics_without_descriptors_are_refused_clearly(caps: QemuCaps) -> None:
    """A tap NIC is fd-passed: without a plan (a hot-plug, today) the builder says so."""
    nic = ("<interface type='bridge'><source bridge='br0'/><model type='virtio'/>"
           "</interface>")
    with pytest.raises(ConfigUnsupportedError, match=r"type .bridge. needs a tap device"):
        build_command(q35_domain(nic), caps, ENV)


@pytest.mark.parametrize("kind", ["bridge", "ethernet"])
def test_tap_nics_are_fd_passed_never_opened_by_name(caps: QemuCaps, kind: str) -> None:
    nic = (f"<interface type='{kind}'><source bridge='br0'/><target dev='tap,x'/>"
           "<model type='virtio'/></interface>" if kind == "bridge" else
           "<interface type='ethernet'><target dev='tap,x'/><model type='virtio'/>"
           "</interface>")
    env = dataclasses.replace(ENV, nic_fds={"net0": NicFds((17,), (18,))})
    netdev = option_lines(build_command(q35_domain(nic), caps, env).argv, "-netdev")
    assert netdev[0][1] == '{"type":"tap","fd":"17","vhost":true,"vhostfd":"18",' \
        '"id":"hostnet0"}'


# --- option injection -------------------------------------------------------------

EVIL = ("a,b", "a,,b", "x=y,id=evil", "it's \"quoted\"", "new\nline", '{"driver":"x"}}',
        "a,-device,{}", "-S")
PLAIN = "plain"
INJECTION_DEVICES = """
<disk type='file' device='disk'><source file='/d.img'/><target dev='vda' bus='virtio'/>
  <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></disk>
<interface type='user'><mac address='52:54:00:00:00:01'/><model type='e1000e'/>
  <address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/></interface>
<serial type='file'><source path='/s.log'/><target port='0'/></serial>
<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
"""


def parse_keyval(text: str) -> list[tuple[str, ...]]:
    """How QEMU's option parser splits a keyval string (``,,`` is a literal comma)."""
    items, current, i = [], "", 0
    while i < len(text):
        if text[i] == "," and text[i + 1:i + 2] == ",":
            current, i = current + ",", i + 2
        elif text[i] == ",":
            items.append(current)
            current, i = "", i + 1
        else:
            current, i = current + text[i], i + 1
    return [tuple(item.split("=", 1)) for item in [*items, current]]


def with_user_strings(domain: Domain, text: str) -> Domain:
    d = domain.devices
    return dataclasses.replace(
        domain, name=text,
        os=dataclasses.replace(domain.os, kernel=f"/k{text}", initrd=f"/i{text}",
                               cmdline=text),
        devices=dataclasses.replace(
            d,
            disks=(dataclasses.replace(d.disks[0], source=f"/d{text}"),),
            interfaces=(dataclasses.replace(d.interfaces[0], alias=f"ua-{text}"),),
            serials=(dataclasses.replace(d.serials[0], path=f"/s{text}",
                                         alias=f"ua-{text}"),),
            rngs=(dataclasses.replace(d.rngs[0], backend=f"/r{text}"),)))


@pytest.mark.parametrize("text", EVIL)
def test_user_strings_cannot_inject_options(text: str, caps: QemuCaps) -> None:
    base = q35_domain(INJECTION_DEVICES, "<kernel>/k</kernel>")
    env = BuildEnv(qmp_socket=Path(f"/q{text}"), pidfile=Path(f"/p{text}"))
    evil = build_command(with_user_strings(base, text), caps, env)
    plain = build_command(with_user_strings(base, PLAIN), caps,
                          BuildEnv(qmp_socket=Path("/q"), pidfile=Path("/p")))
    assert [g[0] for g in evil.option_lines()] == [g[0] for g in plain.option_lines()]
    assert len(evil.argv) == len(plain.argv)
    lines = dict(g for g in evil.option_lines()[1:] if len(g) == 2)  # last of each option
    assert parse_keyval(lines["-name"]) == [("guest", text), ("debug-threads", "on")]
    assert (lines["-kernel"], lines["-append"], lines["-pidfile"]) == (
        f"/k{text}", text, f"/p{text}")
    chardevs = [parse_keyval(g[1]) for g in option_lines(evil.argv, "-chardev")]
    assert chardevs == [
        [("socket",), ("id", "charmonitor"), ("path", f"/q{text}"), ("server", "on"),
         ("wait", "off")],
        [("file",), ("id", f"charua-{text}"), ("path", f"/s{text}")]]
    blockdev = json.loads(option_lines(evil.argv, "-blockdev")[0][1])
    assert blockdev["filename"] == f"/d{text}"
    nic = next(d for d in device_objects(evil.argv) if d["driver"] == "e1000e")
    assert (nic["id"], nic["netdev"]) == (f"ua-{text}", f"hostua-{text}")
    rng = json.loads(option_lines(evil.argv, "-object")[1][1])
    assert rng["filename"] == f"/r{text}"
    assert shlex.split(evil.shell_quoted().replace(" \\\n", " ")) == list(evil.argv)


@pytest.mark.parametrize(("field", "value"), [
    ("machine", "q35,accel=kvm"), ("machine", "accel=kvm"), ("cpu", "qemu64,+vmx"),
    ("cpu", "host=1"), ("vnc", "127.0.0.1,password=on"),
])
def test_implied_option_values_are_checked(field: str, value: str, caps: QemuCaps) -> None:
    domain = q35_domain("")
    if field == "machine":
        domain = dataclasses.replace(domain, os=dataclasses.replace(domain.os, machine=value))
    elif field == "cpu":
        assert domain.cpu is not None and domain.cpu.model is not None
        domain = dataclasses.replace(domain, cpu=dataclasses.replace(
            domain.cpu, model=dataclasses.replace(domain.cpu.model, name=value)))
    else:
        domain = q35_domain(f"<graphics type='vnc' port='5900' listen='{value}'/>")
    with pytest.raises(ConfigUnsupportedError):
        build_command(domain, caps, ENV)


# --- other builder rules ----------------------------------------------------------


def test_shell_quoted_has_one_option_per_line(caps: QemuCaps) -> None:
    command = build_command(q35_domain(TEAM_NICS), caps, ENV)
    lines = command.shell_quoted().split(" \\\n")
    assert lines[0] == "/usr/bin/qemu-system-x86_64"
    assert all(line.startswith("-") for line in lines[1:])
    assert "-S" in lines and "-nodefaults" in lines
    assert "-device '{\"driver\":\"e1000e\"" in command.shell_quoted()


def test_env_options(caps: QemuCaps) -> None:
    env = BuildEnv(qmp_socket=Path("/m.sock"), pidfile=Path("/q.pid"), incoming="defer",
                   paused=False)
    argv = build_command(q35_domain(TEAM_NICS), caps, env).argv
    assert argv[1:5] == ("-name", "guest=guest,debug-threads=on", "-pidfile", "/q.pid")
    assert "-S" not in argv
    assert argv.index("-incoming") > max(i for i, a in enumerate(argv) if "e1000e" in a)
    assert argv[argv.index("-incoming") + 1] == "defer"
    assert build_command(q35_domain(TEAM_NICS), caps, env).argv == argv  # pure


def test_disk_node_names_count_down_and_empty_cdrom_uses_a_number(caps: QemuCaps) -> None:
    disks = """
<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>
  <source file='/a.qcow2'/><target dev='vda' bus='virtio'/>
  <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></disk>
<disk type='file' device='cdrom'><target dev='sdb' bus='sata'/><readonly/>
  <address type='drive' controller='0' bus='0' target='0' unit='1'/></disk>
<disk type='file' device='cdrom'><source file='/c.iso'/><target dev='sdc' bus='sata'/>
  <readonly/><address type='drive' controller='0' bus='0' target='0' unit='2'/></disk>
"""
    domain = q35_domain(disks, "<boot dev='cdrom'/><boot dev='hd'/>")
    argv = build_command(domain, caps, ENV).argv
    assert [json.loads(g[1])["node-name"] for g in option_lines(argv, "-blockdev")] == [
        "libvirt-3-storage", "libvirt-3-format", "libvirt-1-storage", "libvirt-1-format"]
    assert json.loads(option_lines(argv, "-blockdev")[1][1])["backing"] is None
    blk, empty, cd = (d for d in device_objects(argv) if "drive" in d or "ide-cd" in d.values())
    assert blk == {"driver": "virtio-blk-pci", "bus": "pci.1", "addr": "0x0",
                   "drive": "libvirt-3-format", "id": "virtio-disk0", "bootindex": 2,
                   "write-cache": "on"}
    # like libvirt, 'cdrom' boots the first CD-ROM drive, even an empty one
    assert empty == {"driver": "ide-cd", "bus": "ide.1", "id": "sata0-0-1", "bootindex": 1}
    assert cd == {"driver": "ide-cd", "bus": "ide.2", "drive": "libvirt-1-format",
                  "id": "sata0-0-2"}
    assert_device_props_known(argv, caps)


def test_explicit_boot_order_wins(caps: QemuCaps) -> None:
    nics = TEAM_NICS.replace("<alias name='ua-net0'/>",
                             "<boot order='3'/><alias name='ua-net0'/>")
    argv = build_command(q35_domain(nics, "<boot dev='network'/>"), caps, ENV).argv
    boots = {d["id"]: d.get("bootindex") for d in device_objects(argv) if "netdev" in d}
    assert boots == {"ua-net0": 3, "net0": None}
    argv = build_command(q35_domain(TEAM_NICS, "<boot dev='network'/>"), caps, ENV).argv
    boots = {d["id"]: d.get("bootindex") for d in device_objects(argv) if "netdev" in d}
    assert boots == {"ua-net0": 1, "net0": None}


@pytest.mark.parametrize(("mode", "kind", "expected"), [
    ("custom", "qemu", "qemu64"), ("host-passthrough", "kvm", "host"),
    ("host-model", "kvm", "host"), ("host-model", "qemu", "max"), ("maximum", "qemu", "max"),
])
def test_cpu_modes(mode: str, kind: str, expected: str, caps: QemuCaps) -> None:
    domain = q35_domain("")
    assert domain.cpu is not None
    domain = dataclasses.replace(domain, type=type(domain.type)(kind),
                                 cpu=dataclasses.replace(domain.cpu, mode=mode))
    argv = build_command(domain, caps, ENV).argv
    assert argv[argv.index("-cpu") + 1] == expected
    assert argv[argv.index("-accel") + 1] == ("kvm" if kind == "kvm" else "tcg")


def test_host_passthrough_needs_kvm(caps: QemuCaps) -> None:
    domain = q35_domain("")
    assert domain.cpu is not None
    domain = dataclasses.replace(domain, cpu=dataclasses.replace(domain.cpu,
                                                                 mode="host-passthrough"))
    with pytest.raises(ConfigUnsupportedError, match="not supported by hypervisor"):
        build_command(domain, caps, ENV)


def test_vnc_graphics(caps: QemuCaps) -> None:
    argv = build_command(q35_domain("<graphics type='vnc' port='5907' listen='::1'/>"),
                         caps, ENV).argv
    assert "-display" not in argv
    assert argv[argv.index("-vnc") + 1] == "[::1]:7,audiodev=audio1"
    auto = q35_domain("<graphics type='vnc' autoport='yes'/>")
    argv = build_command(auto, caps, dataclasses.replace(ENV, vnc_port=5901)).argv
    assert argv[argv.index("-vnc") + 1] == "127.0.0.1:1,audiodev=audio1"
    assert argv.index("-vnc") > argv.index("-audiodev")


# --- aliases ----------------------------------------------------------------------


def test_conformance_aliases() -> None:
    domain = assign_aliases(load_xml(CONFORMANCE / "q35-teaming.formatted.xml"))
    d = domain.devices
    assert [c.alias for c in d.controllers] == ["usb", "ide", "pcie.0", *(
        f"pci.{i}" for i in range(1, 7))]
    assert [i.alias for i in d.interfaces] == ["ua-backup0", "hostdev0"]
    assert [x.alias for x in d.disks] == ["virtio-disk0"]
    assert [x.alias for x in d.inputs] == ["input0", "input1"]
    assert d.memballoon is not None and d.memballoon.alias == "balloon0"
    assert assign_aliases(domain) == domain


def test_net_and_hostdev_numbers_continue_after_the_highest() -> None:
    nics = """
<interface type='user'><model type='virtio'/></interface>
<interface type='user'><model type='virtio'/><alias name='net5'/></interface>
<interface type='hostdev'><source><address type='pci' domain='0x0000' bus='0x03'
  slot='0x07' function='0x1'/></source></interface>
<interface type='user'><model type='virtio'/></interface>
<hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x03'
  slot='0x07' function='0x2'/></source><alias name='hostdev3'/></hostdev>
<hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x03'
  slot='0x07' function='0x3'/></source></hostdev>
"""
    d = assign_aliases(q35_domain(nics)).devices
    assert [i.alias for i in d.interfaces] == ["net6", "net5", "hostdev4", "net7"]
    assert [h.alias for h in d.hostdevs] == ["hostdev3", "hostdev5"]


def test_disk_controller_and_chardev_aliases() -> None:
    devices = """
<controller type='ide' index='0'/><controller type='scsi' index='0' model='virtio-scsi'/>
<controller type='usb' index='1' model='qemu-xhci'/>
<disk type='file' device='disk'><source file='/a'/><target dev='vdaa' bus='virtio'/></disk>
<disk type='file' device='disk'><source file='/b'/><target dev='hdc' bus='ide'/></disk>
<disk type='file' device='disk'><source file='/c'/><target dev='sda' bus='scsi'/></disk>
<disk type='file' device='disk'><source file='/d'/><target dev='sdb' bus='sata'/>
  <alias name='ua-disk'/></disk>
<serial type='pty'><target port='0'/></serial><serial type='pty'><target port='1'/></serial>
<console type='pty'><target type='serial' port='0'/></console>
<console type='pty'><target type='virtio' port='1'/></console>
<video><model type='none'/></video>
<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
"""
    d = assign_aliases(q35_domain(devices, machine="pc")).devices
    assert [x.alias for x in d.disks] == ["virtio-disk26", "ide0-1-0", "scsi0-0-0-0",
                                          "ua-disk"]
    assert [c.alias for c in d.controllers][:5] == ["pcie.0", "pci.1", "pci.2", "pci.3",
                                                    "usb"]
    assert [c.alias for c in d.controllers][5:] == ["sata0", "ide", "scsi0", "usb1"]
    assert [s.alias for s in d.serials] == ["serial0", "serial1"]
    assert [c.alias for c in d.consoles] == ["serial0", "console1"]
    assert (d.videos[0].alias, d.rngs[0].alias) == ("video0", "rng0")


@pytest.mark.parametrize(("name", "index"), [("vda", 0), ("sdz", 25), ("hdaa", 26),
                                             ("vdab", 27), ("sdd", 3), ("xvdb", 1)])
def test_disk_index(name: str, index: int) -> None:
    assert disk_index(name) == index
