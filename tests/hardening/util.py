"""Helpers of the hardening tests: small guests, a raw QMP session, the state audit."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from pyvirt.domain.io import domain_from_xml
from pyvirt.errors import PyvirtError
from pyvirt.service.context import Context
from pyvirt.service.domains import DomainService
from tests.e2e.conftest import Host


def small_domain_xml(name: str, *, memory_mib: int = 64, teamed: bool = True,
                     serial: Path | None = None, serial_log: Path | None = None,
                     disk: Path | None = None, uuid: str | None = None) -> str:
    """A q35 TCG guest without kernel or disk: QEMU starts in a fraction of a second and
    idles in the firmware. Built with lxml, so any value is escaped as XML."""
    domain = etree.Element("domain", type="qemu")
    etree.SubElement(domain, "name").text = name
    if uuid is not None:
        etree.SubElement(domain, "uuid").text = uuid
    etree.SubElement(domain, "memory", unit="MiB").text = str(memory_mib)
    etree.SubElement(domain, "vcpu").text = "1"
    os_el = etree.SubElement(domain, "os")
    etree.SubElement(os_el, "type", arch="x86_64", machine="q35").text = "hvm"
    features = etree.SubElement(domain, "features")
    etree.SubElement(features, "acpi")
    devices = etree.SubElement(domain, "devices")
    etree.SubElement(devices, "emulator").text = "/usr/bin/qemu-system-x86_64"
    if disk is not None:
        disk_el = etree.SubElement(devices, "disk", type="file", device="disk")
        etree.SubElement(disk_el, "driver", name="qemu", type="raw")
        etree.SubElement(disk_el, "source", file=str(disk))
        etree.SubElement(disk_el, "target", dev="vda", bus="virtio")
    if teamed:
        standby = etree.SubElement(devices, "interface", type="user")
        etree.SubElement(standby, "model", type="virtio")
        etree.SubElement(standby, "teaming", type="persistent")
        etree.SubElement(standby, "alias", name="ua-net0")
        primary = etree.SubElement(devices, "interface", type="user")
        etree.SubElement(primary, "model", type="e1000e")
        etree.SubElement(primary, "teaming", type="transient", persistent="ua-net0")
        etree.SubElement(primary, "alias", name="ua-net0-primary")
    if serial is not None:
        serial_el = etree.SubElement(devices, "serial", type="file")
        etree.SubElement(serial_el, "source", path=str(serial), append="on")
        if serial_log is not None:
            etree.SubElement(serial_el, "log", file=str(serial_log), append="on")
        etree.SubElement(serial_el, "target", port="0")
    etree.SubElement(devices, "memballoon", model="none")
    return etree.tostring(domain, encoding="unicode") + "\n"


class QmpSession:
    """A minimal synchronous QMP client (stdlib only) for checking what QEMU really has."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(str(path))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.reader = self.sock.makefile("rb")
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(self.reader.readline())
            if "event" not in message:
                return message

    def execute(self, command: str, **arguments: Any) -> Any:
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        answer = self._read()
        if "error" in answer:
            raise RuntimeError(f"{command}: {answer['error']}")
        return answer["return"]

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def __enter__(self) -> QmpSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def run_dirs(host: Host) -> Iterator[Path]:
    run = host.root / "run" / "qemu"
    if run.is_dir():
        yield from sorted(run.glob("domain-*"))


def recorded_qemus(host: Host) -> dict[int, str]:
    """pid -> domain name of every QEMU the root's status records name (alive or not)."""
    found = {}
    for rd in run_dirs(host):
        with contextlib.suppress(OSError, ValueError, KeyError):
            status = json.loads((rd / "status.json").read_text())
            found[int(status["pid"])] = rd.name.removeprefix("domain-")
    return found


def lock_is_free(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def stragglers(hosts: list[Host]) -> list[int]:
    """pyvirt processes (e.g. a migration agent whose source was killed) still working on
    one of *hosts*."""
    found = []
    roots = [str(h.root).encode() for h in hosts]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"pyvirt" in cmdline and b"qemu-system" not in cmdline and state != "Z" \
                and any(root in cmdline for root in roots):
            found.append(int(entry.name))
    return found


@dataclass
class Audit:
    """What the state of some roots looks like after reconciliation."""

    running: dict[str, list[str]] = field(default_factory=dict)  # domain -> roots running it
    problems: list[str] = field(default_factory=list)


def audit(hosts: list[Host], settle: float = 60.0) -> Audit:
    """Reconcile every root (``list --all``), then check the invariants of issue 8:
    every stored config parses, no lock is held, every QEMU of a root is recorded in
    exactly that root, and each domain runs in at most one root (reported in
    ``running``, so the caller can demand exactly one)."""
    result = Audit()
    deadline = time.monotonic() + settle
    while stragglers(hosts):
        if time.monotonic() > deadline:
            result.problems.append(f"pyvirt processes still busy: {stragglers(hosts)}")
            break
        time.sleep(0.1)
    for host in hosts:
        try:  # what `pyvirt list --all` does, without a process start per root
            views = DomainService(Context.open(host.uri)).list_domains(True)
        except PyvirtError as err:
            result.problems.append(f"{host.root.name}: list --all failed: {err}")
            continue
        for view in views:
            if view.info.state.active:
                result.running.setdefault(view.name, []).append(host.root.name)
        config = host.root / "etc" / "qemu"
        for path in sorted(config.glob("*.xml")) if config.is_dir() else []:
            try:
                domain_from_xml(path.read_bytes())
            except Exception as err:  # any failure is the finding
                result.problems.append(f"{path}: stored config does not parse: {err}")
        locks = host.root / "run" / "qemu" / "locks"
        for lock in sorted(locks.glob("*.lock")) if locks.is_dir() else []:
            if not lock_is_free(lock):
                result.problems.append(f"{lock}: lock still held")
        recorded = recorded_qemus(host)
        for pid in host.qemu_pids():
            if pid not in recorded:
                result.problems.append(f"{host.root.name}: QEMU {pid} runs without a record")
        for pid, name in recorded.items():
            if pid not in host.qemu_pids():
                result.problems.append(f"{host.root.name}: '{name}' records QEMU {pid}, "
                                       "which is not running")
    for name, roots in result.running.items():
        if len(roots) > 1:
            result.problems.append(f"'{name}' runs in {len(roots)} roots: {roots}")
    return result
