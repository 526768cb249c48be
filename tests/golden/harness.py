"""The golden-file table: tests/data/xmlconf/NAME.xml → NAME.formatted.xml, NAME.err,
NAME.qemu-7.2.args. A case whose name starts with ``nofailover-`` runs against the
capabilities of a QEMU without the failover properties."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pyvirt.domain.defaults import mac_factory
from pyvirt.domain.io import domain_from_file, domain_to_xml
from pyvirt.errors import PyvirtError
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.define import prepare_definition

DATA = Path(__file__).parent.parent / "data"
XMLCONF = DATA / "xmlconf"
CAPS = DATA / "caps"
OUTPUT_SUFFIXES = (".formatted.xml", ".err", ".qemu-7.2.args")


@dataclass(frozen=True)
class Outcome:
    formatted: str | None = None
    error: str | None = None
    args: str | None = None

    def files(self) -> dict[str, str | None]:
        return {".formatted.xml": self.formatted, ".err": self.error,
                ".qemu-7.2.args": self.args}


def case_names() -> list[str]:
    return sorted(p.name[:-4] for p in XMLCONF.glob("*.xml")
                  if not any(p.name.endswith(s) for s in OUTPUT_SUFFIXES))


def caps_for(name: str) -> QemuCaps:
    fixture = "qemu-7.2-x86_64-nofailover.json" if name.startswith("nofailover-") \
        else "qemu-7.2-x86_64.json"
    return QemuCaps.from_json((CAPS / fixture).read_text())


def deterministic_macs() -> Iterator[bytes]:
    for n in itertools.count(1):
        yield bytes([0xAB, n >> 8 & 0xFF, n & 0xFF])


def run_case(name: str) -> Outcome:
    """Everything the golden files pin for one input."""
    macs = deterministic_macs()
    new_mac = mac_factory(lambda _n: next(macs))
    caps = caps_for(name)
    try:
        domain = prepare_definition(domain_from_file(XMLCONF / f"{name}.xml"), caps, new_mac)
    except PyvirtError as err:
        return Outcome(error=f"{type(err).__name__}: {err}\n")
    formatted = domain_to_xml(domain)
    try:
        from pyvirt.qemu.command import BuildEnv, build_command
    except ImportError:  # builder not present in this tree
        return Outcome(formatted=formatted)
    from pyvirt.qemu.tapnic import fixed_fd_plan  # tap NICs: libvirt's test fd numbers

    # vnc_port: what the runtime's allocator gives the first autoport display
    env = BuildEnv(qmp_socket=Path(f"/run/pyvirt/qemu/domain-{domain.name}/qemu/monitor.sock"),
                   pidfile=None, incoming=None, vnc_port=5900, nic_fds=fixed_fd_plan(domain))
    try:
        command = build_command(domain, caps, env)
    except PyvirtError as err:
        return Outcome(formatted=formatted, error=f"{type(err).__name__}: {err}\n")
    return Outcome(formatted=formatted, args=command.shell_quoted() + "\n")
