"""``make bench``: pyvirt side by side with raw QEMU and libvirt; writes bench/RESULTS.md.

Every comparison runs in one go on this machine, alternating A and B, and reports
medians and ratios. Sections (``--only`` picks some): start, migration, conversion,
libvirt, scale, caps, xmlcore. ``--quick`` runs few repetitions (for trying the script out; its
RESULTS.md says so). Where a target is missed, the report profiles the pyvirt command
(``-X importtime`` and, when installed, pyinstrument) so the cause is in the file too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lib import (
    PYTHON,
    PYVIRT,
    REPO,
    Samples,
    alternate,
    machine,
    pyvirt,
    ratio,
    timed,
)

from pyvirt.guest.build import GuestImage, build_guest
from pyvirt.guest.report import GuestReport, SerialLog
from pyvirt.guest.xml import demo_domain_xml

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
ORACLE_SRC = Path(os.environ.get("PYVIRT_ORACLE", REPO.parent / "shared" / "tools" /
                                 "libvirt-oracle"))
BOOT_TIMEOUT = 180.0
SETTLE = 8.0  # seconds after a migration before the probe counters are read
UUID = "8c0f4a7e-5b1d-4c2a-9e3f-0a1b2c3d4e5f"


@dataclass
class Row:
    what: str
    a: str
    b: str
    ratio: str = ""
    note: str = ""


@dataclass
class Section:
    title: str
    intro: str
    header: tuple[str, str, str, str, str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Target:
    text: str
    measured: str
    met: bool | None  # None: not measured
    profile: str | None = None  # what to profile when missed: a pyvirt command line


@dataclass
class Report:
    sections: list[Section] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    profiles: list[tuple[str, str]] = field(default_factory=list)


class Bench:
    def __init__(self, runs: int, quick: bool) -> None:
        self.runs = runs
        self.quick = quick
        # short: a QEMU monitor socket path must stay under 108 bytes
        self.work = Path(tempfile.mkdtemp(prefix="pvb", dir="/tmp"))
        self.image: GuestImage = build_guest()
        self.report = Report()
        self.cleanups: list[Callable[[], None]] = []

    def uri(self, name: str) -> str:
        return f"qemu:///embed?root={self.work / name}"

    def xml(self, name: str, serial: Path, teamed: bool = True) -> Path:
        """The demo guest (bonded pair unless *teamed* is False), with a fixed UUID."""
        text = demo_domain_xml(name, self.image, serial)
        text = text.replace(f"<name>{name}</name>", f"<name>{name}</name>\n  <uuid>{UUID}</uuid>")
        if not teamed:
            text = re.sub(r"\s*<teaming[^>]*/>", "", text)
            text = re.sub(r"\s*<interface type=\"user\">\s*<model type=\"e1000e\"/>\s*"
                          r"<alias name=\"ua-net0-primary\"/>\s*</interface>", "", text)
        path = self.work / f"{name}{'' if teamed else '-plain'}.xml"
        path.write_text(text)
        return path

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        for pid in qemu_pids(self.work):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        shutil.rmtree(self.work, ignore_errors=True)


def qemu_pids(under: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes()
                if b"qemu-system" in cmdline and str(under).encode() in cmdline:
                    found.append(int(entry.name))
    return found


def native_argv(uri: str, xml: Path) -> list[str]:
    """What ``pyvirt domxml-to-native qemu-argv`` prints, as an argv."""
    _, proc = pyvirt(uri, "domxml-to-native", "qemu-argv", str(xml))
    return shlex.split(proc.stdout.replace("\\\n", " "))


def moved(argv: list[str], old: Path, new: Path) -> list[str]:
    """*argv* with its run directory (monitor socket, pidfile) moved from *old* to *new*."""
    return [arg.replace(str(old), str(new)) for arg in argv]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_bonded(serial: SerialLog) -> GuestReport:
    report = serial.wait_for(lambda r: r.bonded and r.primary_driver == "e1000e"
                             and r.probe_ok > 0, BOOT_TIMEOUT)
    if report is None:
        raise RuntimeError(f"the guest never bonded: {serial.text()[-800:]}")
    return report


def lost_probes(serial: SerialLog, before: GuestReport) -> int:
    time.sleep(SETTLE)
    after = serial.latest()
    assert after is not None
    return (after.probe_sent - before.probe_sent) - (after.probe_ok - before.probe_ok)


# --------------------------------------------------------------------------- start


def bench_start(b: Bench) -> None:
    uri = b.uri("start")
    xml = b.xml("bs", b.work / "bs.serial")
    pyvirt(uri, "define", str(xml))
    run_dir = b.work / "start" / "run" / "qemu" / "domain-bs" / "qemu"
    floor_dir = b.work / "floor"
    floor_dir.mkdir()
    native = native_argv(uri, xml)
    argv_file = b.work / "floor-argv.json"
    argv_file.write_text(json.dumps(moved(native, run_dir, floor_dir)))
    pidfile = str(floor_dir / "qemu.pid")
    starts, destroys = Samples(), Samples()
    floor_starts, floor_destroys = Samples(), Samples()
    same_argv: list[bool] = []

    def a() -> None:
        t, _ = pyvirt(uri, "start", "bs")
        starts.add(t)
        [pid] = qemu_pids(b.work / "start")
        same_argv.append(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
                         == [arg.encode() for arg in native])
        t, _ = pyvirt(uri, "destroy", "bs")
        destroys.add(t)

    def floor() -> None:
        t, _ = timed([PYTHON, str(BENCH / "floor.py"), "start", str(argv_file),
                      str(b.work / "floor.log")])
        floor_starts.add(t)
        t, _ = timed([PYTHON, str(BENCH / "floor.py"), "destroy", pidfile])
        floor_destroys.add(t)

    alternate(b.runs, a, floor)
    section = Section(
        "Start and destroy",
        "`pyvirt start` of the bonded demo guest until it returns (QEMU launched, QMP "
        "answered, vCPUs resumed, state recorded) versus bench/floor.py launching the same "
        "argv (from `pyvirt domxml-to-native`, run directory moved) with a bare QMP "
        "handshake and `cont`; then `pyvirt destroy` versus SIGTERM and a pidfd wait. "
        "Both are fresh Python processes.",
        ("", "pyvirt", "floor (raw script)", "ratio", "target"))
    section.rows.append(Row("start", starts.spread(), floor_starts.spread(),
                            ratio(starts.median, floor_starts.median), "≤ 1.10×"))
    section.rows.append(Row("destroy", destroys.spread(), floor_destroys.spread(),
                            ratio(destroys.median, floor_destroys.median), ""))
    section.notes.append(f"pyvirt's QEMU ran exactly the argv `domxml-to-native` printed: "
                         f"{'yes' if same_argv and all(same_argv) else 'NO'} "
                         f"({sum(same_argv)}/{len(same_argv)} starts).")
    b.report.sections.append(section)
    r = starts.median / floor_starts.median
    b.report.targets.append(Target("start ≤ 1.10× the floor", f"{r:.2f}×", r <= 1.10,
                                   f"-c {uri} start bs"))


# ----------------------------------------------------------------------- migration


def parse_jobinfo(text: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, v in (ln.split(":", 1) for ln in text.splitlines()
                                             if ":" in ln)}


def ms(value: str) -> float:
    return float(value.split()[0]) / 1000 if value and value != "-" else float("nan")


def bench_migration(b: Bench) -> None:
    src_uri, dst_uri = b.uri("mig-a"), b.uri("mig-b")
    totals, downtimes, unplugs, lost = Samples(), Samples(), Samples(), Samples()
    raw_totals, raw_downtimes, raw_unplugs, raw_lost = Samples(), Samples(), Samples(), \
        Samples()
    counter = iter(range(1000))

    def with_pyvirt() -> None:
        i = next(counter)
        serial_path = b.work / f"mig-p{i}.serial"
        xml = b.xml("bm", serial_path)
        pyvirt(src_uri, "define", str(xml))
        pyvirt(src_uri, "start", "bm")
        serial = SerialLog(serial_path, from_end=False)
        before = wait_bonded(serial)
        before = serial.latest() or before
        t, _ = pyvirt(src_uri, "migrate", "--live", "bm", dst_uri)
        totals.add(t)
        _, info = pyvirt(dst_uri, "domjobinfo", "--completed", "bm")
        job = parse_jobinfo(info.stdout)
        downtimes.add(ms(job.get("Total downtime", "")))
        unplugs.add(ms(job.get("Wait-unplug time", "")))
        lost.add(lost_probes(serial, before))
        pyvirt(dst_uri, "destroy", "bm")

    def with_raw_qmp() -> None:
        i = next(counter)
        serial_path = b.work / f"mig-r{i}.serial"
        xml = b.xml("bm", serial_path)
        run_dir = b.work / "mig-a" / "run" / "qemu" / "domain-bm" / "qemu"
        native = native_argv(src_uri, xml)
        src_dir, dst_dir = b.work / f"raw-src{i}", b.work / f"raw-dst{i}"
        src_dir.mkdir()
        dst_dir.mkdir()
        (b.work / "raw-src.json").write_text(json.dumps(moved(native, run_dir, src_dir)))
        dest_argv = incoming_argv(moved(native, run_dir, dst_dir))
        (b.work / "raw-dst.json").write_text(json.dumps(dest_argv))
        timed([PYTHON, str(BENCH / "floor.py"), "start", str(b.work / "raw-src.json"),
               str(b.work / "raw-src.log")])
        serial = SerialLog(serial_path, from_end=False)
        before = wait_bonded(serial)
        before = serial.latest() or before
        t, proc = timed([PYTHON, str(BENCH / "raw_migrate.py"), str(src_dir / "monitor.sock"),
                         str(b.work / "raw-dst.json"), str(b.work / "raw-dst.log"),
                         "ua-net0-primary", str(free_port())])
        raw_totals.add(t)
        stats = json.loads(proc.stdout)
        raw_downtimes.add(stats["downtime_ms"] / 1000)
        raw_unplugs.add(stats["wait_unplug_ms"] / 1000)
        raw_lost.add(lost_probes(serial, before))
        timed([PYTHON, str(BENCH / "floor.py"), "destroy", str(dst_dir / "qemu.pid")])

    n = max(1, b.runs // 3)
    alternate(n, with_pyvirt, with_raw_qmp)
    agent, cli_start = Samples(), Samples()
    hello = b'{"op":"hello","args":{}}\n{"op":"bye","args":{}}\n'
    for _ in range(b.runs):
        started = time.perf_counter()
        proc = subprocess.run([*PYVIRT, "-c", dst_uri, "migrate-agent"], input=hello,
                              capture_output=True)
        agent.add(time.perf_counter() - started)
        if proc.stdout.count(b'"ok":true') != 2:  # (its exit status is bug B10's)
            raise RuntimeError(f"migrate-agent: {proc.stdout!r} {proc.stderr!r}")
        cli_start.add(timed([*PYVIRT, "migrate", "--help"])[0])
    section = Section(
        "Live migration of the bonded demo guest",
        "`pyvirt migrate --live` between two embed roots (destination agent, define "
        "pipeline, `-incoming defer`, events, wait-unplug, resume, primary re-plugged) "
        "versus bench/raw_migrate.py doing the same with raw QMP on the same argv (the "
        "destination's with `-incoming defer`, as pyvirt's). Total = wall time of the "
        "command; downtime and wait-unplug as QEMU reports them; lost = guest probe "
        f"packets (10/s to the user-mode gateway) lost from just before the migration to "
        f"{SETTLE:g} s after it returned, counted by the guest itself.",
        ("", "pyvirt", "raw QMP", "ratio", "target"))
    section.rows += [
        Row("total", totals.spread(), raw_totals.spread(),
            ratio(totals.median, raw_totals.median), "≤ 1.05×"),
        Row("downtime", downtimes.spread(), raw_downtimes.spread(),
            ratio(downtimes.median, raw_downtimes.median), "equal"),
        Row("wait-unplug", unplugs.spread(), raw_unplugs.spread(),
            ratio(unplugs.median, raw_unplugs.median), ""),
        Row("probes lost", lost.spread(1, "pkts"), raw_lost.spread(1, "pkts"), "", ""),
        Row("of which: destination agent start-up and exit (hello, bye)", agent.spread(),
            "", "", ""),
        Row("of which: source CLI start-up (`pyvirt migrate --help`)", cli_start.spread(),
            "", "", ""),
    ]
    b.report.sections.append(section)
    r = totals.median / raw_totals.median
    b.report.targets.append(Target("migration total ≤ 1.05× raw QMP", f"{r:.2f}×", r <= 1.05))
    dt_a, dt_b = downtimes.median * 1000, raw_downtimes.median * 1000
    equal = abs(dt_a - dt_b) <= max(20.0, 0.25 * dt_b)
    b.report.targets.append(Target("migration downtime equal to raw QMP's",
                                   f"{dt_a:.0f} ms vs {dt_b:.0f} ms", equal))


def incoming_argv(argv: list[str]) -> list[str]:
    """*argv* as pyvirt's destination runs it: ``-incoming defer`` where the builder puts
    it (after the host devices, before balloon/RNG/sandbox)."""
    position = argv.index("-sandbox")
    for option in ("-device",):  # balloon/rng devices come after -incoming
        while position > 0 and argv[position - 2] == option and \
                ("balloon" in argv[position - 1] or "rng" in argv[position - 1]):
            position -= 2
    return [*argv[:position], "-incoming", "defer", *argv[position:]]


# ---------------------------------------------------------------------- conversion


def bench_conversion(b: Bench, virsh: bool) -> None:
    uri = b.uri("conv")
    teamed, plain = b.xml("bc", b.work / "bc.serial"), b.xml("bc", b.work / "bc.serial",
                                                               teamed=False)
    pyvirt(uri, "validate", str(teamed))  # warm the capability cache
    section = Section(
        "Conversion",
        "Command-line wall time for the demo guest's XML (for libvirt, the same guest "
        "without `<teaming>`: libvirt 9.0 refuses an emulated transient member) and "
        "in-process throughput of the same use cases (`validate_file`, `native_command`).",
        ("", "pyvirt", "libvirt", "ratio", "target"))
    have_validator = schema_validator()
    for command, theirs, label in (
            (["validate"], ["virt-xml-validate", str(plain), "domain"], "validate"),
            (["domxml-to-native", "qemu-argv"],
             ["virsh", "-q", "domxml-to-native", "qemu-argv", str(plain)], "domxml-to-native")):
        ours, other = Samples(), Samples()
        use_other = virsh and (label == "domxml-to-native" or have_validator)

        def a(command: list[str] = command, ours: Samples = ours) -> None:
            ours.add(pyvirt(uri, *command, str(plain))[0])

        def lv(theirs: list[str] = theirs, other: Samples = other,
               use_other: bool = use_other) -> None:
            if use_other:
                other.add(timed(theirs)[0])

        alternate(b.runs, a, lv)
        who = "virt-xml-validate" if label == "validate" else "virsh"
        section.rows.append(Row(f"`{label}` CLI", ours.spread(),
                                f"{who}: {other.spread()}" if use_other else "not set up",
                                ratio(ours.median, other.median) if use_other else "",
                                "faster than libvirt"))
        if use_other:
            r = ours.median / other.median
            b.report.targets.append(Target(f"{label} CLI faster than {who}",
                                           f"{r:.2f}× ({ours.median * 1000:.0f} ms vs "
                                           f"{other.median * 1000:.0f} ms)", r < 1.0,
                                           f"-c {uri} {' '.join(command)} {plain}"))
        else:
            b.report.targets.append(Target(f"{label} CLI faster than libvirt",
                                           "libvirt not set up", None))
    for label, rate in throughput(uri, teamed).items():
        section.rows.append(Row(f"in-process {label}", f"{rate:.0f} domains/s", "", "", ""))
    b.report.sections.append(section)


def throughput(uri: str, xml: Path, seconds: float = 2.0) -> dict[str, float]:
    from pyvirt.domain.io import domain_from_file
    from pyvirt.service.context import Context
    from pyvirt.service.convert import native_command, validate_file

    ctx = Context.open(uri)
    domain = validate_file(ctx, xml)
    rates = {}
    for label, call in (("parse", lambda: domain_from_file(xml)),
                        ("validate (parse + rules + defaults)", lambda: validate_file(ctx, xml)),
                        ("domxml-to-native (command only)", lambda: native_command(ctx, domain))):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            call()
            count += 1
        rates[label] = count / (time.perf_counter() - started)
    return rates


def bench_xmlcore(b: Bench) -> None:
    """The declarative XML core (issue 17) against the hand-written pairs it replaced."""
    import xmlcore

    uri = b.uri("xc")
    xml = b.xml("bx", b.work / "bx.serial")
    pyvirt(uri, "validate", str(xml))  # warm the capability cache
    section = Section(
        "XML core against the hand-written parser it replaced",
        f"A = this tree, B = pyvirt at {xmlcore.BASELINE} (the last hand-written "
        "parse/format pairs), checked out as a git worktree and run on the same "
        "interpreter, alternating. Command lines on the demo guest; in-process figures per "
        "document over the baseline's golden inputs (best of 5 rounds).",
        ("", "A: declarative", "B: hand-written", "A/B", ""))
    try:
        for what, ours, theirs, r in xmlcore.compare(b.work, uri, xml, b.runs):
            section.rows.append(Row(what, ours, theirs, r, ""))
    finally:
        xmlcore.remove_baseline(b.work)
    b.report.sections.append(section)


# ------------------------------------------------------------------------- libvirt


def apt_install(package: str) -> None:
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                       capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def oracle_ready() -> bool:
    """libvirt answers; if not, its setup script is run once from a writable copy (with
    tini, which the oracle runs libvirtd under when present: this machine's PID 1 reaps
    orphans only about once a second, and every `virsh destroy` would wait for it)."""
    probe = ["virsh", "-q", "-c", "qemu:///system", "uri"]
    if shutil.which("virsh") and subprocess.run(probe, capture_output=True).returncode == 0:
        return True
    if not (ORACLE_SRC / "setup.sh").exists() or os.geteuid() != 0:
        return False
    if not shutil.which("tini"):
        apt_install("tini")
    copy = Path(tempfile.gettempdir()) / "pyvirt-bench-oracle"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(ORACLE_SRC, copy)
    env = {**os.environ, "ORACLE_DIR": str(copy)}
    subprocess.run(["bash", str(copy / "setup.sh")], env=env, capture_output=True)
    return subprocess.run(probe, capture_output=True).returncode == 0


def schema_validator() -> bool:
    """libvirt's ``virt-xml-validate`` works (it needs xmllint: libxml2-utils, installed
    here when missing and we are root, as the oracle's setup installs libvirt)."""
    if not shutil.which("virt-xml-validate"):
        return False
    if not shutil.which("xmllint"):
        apt_install("libxml2-utils")
    return shutil.which("xmllint") is not None


def libvirtd_note() -> str:
    """How the running libvirtd is reaped (it changes `virsh destroy` by up to a second)."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "libvirtd":
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parent = Path(f"/proc/{stat[1]}/comm").read_text().strip()
                return (f"libvirtd (pid {entry.name}) runs under `{parent}`"
                        + ("" if parent == "tini" else ": its QEMUs are reaped by this "
                           "machine's slow PID 1, which `virsh destroy` waits for"))
    return "libvirtd not found"


def quiet(argv: list[str]) -> None:
    subprocess.run(argv, capture_output=True)


def bench_libvirt(b: Bench) -> None:
    uri = b.uri("lv")
    name = f"pvbench-{os.getpid()}"
    serial = b.work / "lv.serial"
    plain = b.xml(name, serial, teamed=False)
    text = plain.read_text().replace(UUID, "9d1e5b8f-6c2e-4d3b-8f40-1b2c3d4e5f60")
    virsh_xml = b.work / "lv-virsh.xml"
    virsh_xml.write_text(text.replace(str(serial), str(b.work / "lv-virsh.serial")))
    timed(["virsh", "-q", "define", str(virsh_xml)])
    b.cleanups.append(lambda: quiet(["virsh", "-q", "undefine", name]))
    b.cleanups.append(lambda: quiet(["virsh", "-q", "destroy", name]))
    pyvirt(uri, "define", str(plain))
    ours = {k: Samples() for k in ("start", "destroy", "define", "list --all")}
    theirs = {k: Samples() for k in ("start", "destroy", "define", "list --all", "create")}

    def a() -> None:
        ours["define"].add(pyvirt(uri, "define", str(plain))[0])
        ours["start"].add(pyvirt(uri, "start", name)[0])
        ours["list --all"].add(pyvirt(uri, "list", "--all")[0])
        ours["destroy"].add(pyvirt(uri, "destroy", name)[0])

    def lv() -> None:
        theirs["define"].add(timed(["virsh", "-q", "define", str(virsh_xml)])[0])
        theirs["start"].add(timed(["virsh", "-q", "start", name])[0])
        theirs["list --all"].add(timed(["virsh", "-q", "list", "--all"])[0])
        theirs["destroy"].add(timed(["virsh", "-q", "destroy", name])[0])
        timed(["virsh", "-q", "undefine", name])
        theirs["create"].add(timed(["virsh", "-q", "create", str(virsh_xml)])[0])
        timed(["virsh", "-q", "destroy", name])
        timed(["virsh", "-q", "define", str(virsh_xml)])

    alternate(b.runs, a, lv)
    section = Section(
        "libvirt 9.0 on the same machine",
        "The demo guest without `<teaming>` (libvirt 9.0 refuses an emulated transient "
        "member), defined in both; `virsh` talks to the running libvirtd (warm "
        "capabilities, no process start on its side beyond virsh itself). pyvirt has no "
        "`create`; its closest is the `start` row.",
        ("", "pyvirt", "virsh", "ratio", ""))
    for key in ("define", "start", "destroy", "list --all"):
        section.rows.append(Row(key, ours[key].spread(), theirs[key].spread(),
                                ratio(ours[key].median, theirs[key].median), ""))
    section.rows.append(Row("create (virsh) / start (pyvirt)", ours["start"].spread(),
                            theirs["create"].spread(),
                            ratio(ours["start"].median, theirs["create"].median), ""))
    section.notes.append(libvirtd_note() + ".")
    b.report.sections.append(section)


# --------------------------------------------------------------------------- scale


def populate(uri: str, xml: Path, count: int) -> None:
    """*count* defined domains, stored the way define stores them (in-process: defining
    1 000 through the CLI would take minutes and measure nothing new)."""
    import uuid as uuidlib

    from pyvirt.domain.defaults import mac_factory
    from pyvirt.domain.io import domain_from_file
    from pyvirt.qemu.caps import QemuCaps
    from pyvirt.qemu.define import emulator_of, prepare_definition
    from pyvirt.service.context import Context
    from pyvirt.store.domains import DomainStore

    ctx = Context.open(uri)
    domain = domain_from_file(xml)
    caps: QemuCaps = ctx.caps_for(emulator_of(domain))
    store = DomainStore(ctx.root.config_dir)
    for i in range(count):
        named = replace(domain, name=f"s{i:04}", uuid=str(uuidlib.uuid4()))
        store.save(prepare_definition(named, caps, mac_factory(os.urandom)))


def bench_scale(b: Bench) -> None:
    uri = b.uri("scale")
    xml = b.xml("sc", b.work / "sc.serial")
    pyvirt(uri, "define", str(xml))
    empty = Samples()
    for _ in range(b.runs):
        empty.add(pyvirt(uri, "list", "--all")[0])
    populate(uri, xml, 999)
    listing, defining = Samples(), Samples()
    for i in range(max(3, b.runs // 2)):
        listing.add(pyvirt(uri, "list", "--all")[0])
        extra = b.work / f"extra{i}.xml"
        extra.write_text(xml.read_text().replace("<name>sc</name>", f"<name>x{i}</name>")
                         .replace(UUID, f"00000000-0000-4000-8000-{i:012}"))
        defining.add(pyvirt(uri, "define", str(extra))[0])
        pyvirt(uri, "undefine", f"x{i}")
    _, out = pyvirt(uri, "list", "--all", "--name")
    count = len(out.stdout.split())
    section = Section(
        "Scale: 1 000 defined domains",
        f"One embed root holding {count} defined (inactive) domains.",
        ("", "1 000 domains", "1 domain", "ratio", "target"))
    section.rows.append(Row("`list --all`", listing.spread(), empty.spread(),
                            ratio(listing.median, empty.median), "< 0.5 s"))
    section.rows.append(Row("`define` (one more)", defining.spread(), "", "", ""))
    b.report.sections.append(section)
    b.report.targets.append(Target("`list --all` with 1 000 domains < 0.5 s",
                                   f"{listing.median:.2f} s", listing.median < 0.5,
                                   f"-c {uri} list --all"))


# ---------------------------------------------------------------------------- caps


def bench_caps(b: Bench) -> None:
    from pyvirt.qemu.command import DEFAULT_BINARY
    from pyvirt.runtime.capscache import CapsCache
    from pyvirt.service.context import Context

    ctx = Context.open(b.uri("caps"))
    ctx.caps_for(DEFAULT_BINARY)  # cold: one probe
    lookups, contexts = Samples(), Samples()
    for _ in range(200):
        started = time.perf_counter()
        CapsCache(ctx.root.caps_dir).lookup(DEFAULT_BINARY)
        lookups.add(time.perf_counter() - started)
        started = time.perf_counter()
        Context.open(b.uri("caps")).caps_for(DEFAULT_BINARY)
        contexts.add(time.perf_counter() - started)
    section = Section(
        "Capability lookup (warm on-disk cache)",
        "In-process, a fresh cache object each time (what every pyvirt command does once).",
        ("", "median", "", "", "target"))
    section.rows.append(Row("`CapsCache.lookup`", lookups.spread(), "", "", "< 5 ms"))
    section.rows.append(Row("`Context.caps_for`", contexts.spread(), "", "", ""))
    b.report.sections.append(section)
    b.report.targets.append(Target("warm capability lookup < 5 ms",
                                   f"{lookups.median * 1000:.2f} ms", lookups.median < 0.005))


# ------------------------------------------------------------------------ profiles


def import_profile(top: int = 10) -> str:
    """The modules whose import costs a pyvirt command most (``-X importtime``)."""
    proc = subprocess.run([PYTHON, "-X", "importtime", "-c",
                           "import pyvirt.cli.main as m; from pyvirt.cli import domcmds, "
                           "guestcmds, migcmds, xmlcmds"], capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((int(match.group(2)), len(match.group(3)) // 2, match.group(4)))
    total = max((r[0] for r in rows), default=0)
    notable = sorted((r for r in rows if r[1] <= 2), reverse=True)[:top]
    lines = [f"Import of the CLI with every command module (a command imports only its "
             f"own): {sum(r[0] for r in rows if r[1] == 0) / 1000:.0f} ms in total; biggest "
             "subtrees (cumulative µs, depth):", ""]
    lines += [f"    {cum:>7} µs  {'  ' * depth}{name}" for cum, depth, name in notable]
    return "\n".join(lines) if total else "(no import profile)"


#: What a command of pyvirt's stack imports before any work, cumulatively.
STACK = (("the interpreter (`python -c pass`)", "pass"),
         ("+ click (every command)", "import click"),
         ("+ lxml.etree (any XML)", "import click, lxml.etree"),
         ("+ asyncio and qemu.qmp (any QMP)", "import click, lxml.etree, qemu.qmp"))


def stack_floor(runs: int) -> str:
    """Wall time of bare Python processes importing what pyvirt's commands must: the part
    of every CLI number above that no pyvirt code can remove (no daemon)."""
    lines = ["Wall time of a fresh process that only imports (median of "
             f"{runs}):", ""]
    for label, code in STACK:
        samples = Samples()
        for _ in range(runs):
            samples.add(timed([PYTHON, "-c", code])[0])
        lines.append(f"    {samples.median * 1000:6.1f} ms  {label}")
    return "\n".join(lines)


def runtime_profile(command: str, top: int = 10) -> str:
    """pyinstrument's view of one pyvirt command: time in imports (at start-up and inside
    functions) versus work, and the pyvirt functions doing the most work."""
    if shutil.which("pyinstrument", path=str(Path(PYTHON).parent)) is None:
        return "(pyinstrument not installed: `pip install -e '.[bench]'`)"
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    subprocess.run([PYTHON, "-m", "pyinstrument", "-i", "0.0005", "-r", "json", "-o", str(out),
                    "-m", "pyvirt.cli", *shlex.split(command)], capture_output=True)
    try:
        data = json.loads(out.read_text())
    except (OSError, ValueError):
        return "(pyinstrument produced no profile)"
    finally:
        out.unlink(missing_ok=True)
    work: dict[str, float] = {}
    imports = {"at start-up": 0.0, "inside functions": 0.0}

    def is_import(frame: dict[str, Any], root: bool) -> bool:
        # pyinstrument drops importlib's frames: an import shows as a nested <module>
        return not root and frame.get("function") in ("<module>", "_find_and_load")

    def import_time(frame: dict[str, Any]) -> float:
        """Time below *frame* spent importing (outermost import frames only)."""
        total = 0.0
        for child in frame.get("children", []):
            total += float(child.get("time", 0.0)) if is_import(child, False) \
                else import_time(child)
        return total

    def walk(frame: dict[str, Any], in_function: bool, root: bool = False) -> None:
        name = str(frame.get("function", ""))
        path = str(frame.get("file_path_short", ""))
        if is_import(frame, root):
            imports["inside functions" if in_function else "at start-up"] += \
                float(frame.get("time", 0.0))
            return
        if "pyvirt/" in path and name != "<module>":
            key = f"{path.split('pyvirt/', 1)[1]}:{name}"
            own = float(frame.get("time", 0.0)) - import_time(frame)
            work[key] = max(work.get(key, 0.0), own)
        for child in frame.get("children", []):
            walk(child, in_function or name != "<module>")

    walk(data.get("root_frame", {}), False, root=True)
    duration = float(data.get("duration", 0.0))
    lines = [f"pyinstrument, `pyvirt {command}`: {duration * 1000:.0f} ms in total, of which "
             f"imports at start-up {imports['at start-up'] * 1000:.0f} ms and imports inside "
             f"functions (the command's own module, and what its work needs) "
             f"{imports['inside functions'] * 1000:.0f} ms.",
             "pyvirt functions by work outside imports (inclusive ms):", ""]
    for key, seconds in sorted(work.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {seconds * 1000:7.1f} ms  {key}")
    return "\n".join(lines)


# -------------------------------------------------------------------------- report


def write_report(b: Bench, started: float, sections: list[str]) -> None:
    r = b.report
    out = ["# pyvirt benchmarks", "",
           "Generated by `make bench` (bench/run.py); do not edit by hand. "
           f"{'QUICK RUN (few repetitions): not representative. ' if b.quick else ''}"
           f"Repetitions: {b.runs} per comparison ({max(1, b.runs // 3)} for migration), "
           f"alternating A/B; sections: {', '.join(sections)}; took "
           f"{(time.monotonic() - started) / 60:.1f} min.", "", "## Machine", "",
           "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in machine()]
    out += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for t in r.targets:
        verdict = "n/a" if t.met is None else "yes" if t.met else "**no**"
        out.append(f"| {t.text} | {t.measured} | {verdict} |")
    for s in r.sections:
        out += ["", f"## {s.title}", "", s.intro, "", "| " + " | ".join(s.header) + " |",
                "|" + "---|" * len(s.header)]
        out += [f"| {row.what} | {row.a} | {row.b} | {row.ratio} | {row.note} |"
                for row in s.rows]
        if s.notes:
            out += [""] + [f"- {n}" for n in s.notes]
    if r.profiles:
        out += ["", "## Profiles of missed targets", ""]
        for title, text in r.profiles:
            out += [f"### {title}", "", "```", text, "```", ""]
    RESULTS.write_text("\n".join(out).rstrip() + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions")
    parser.add_argument("--runs", type=int, default=None, help="repetitions per comparison")
    parser.add_argument("--only",
                        default="start,migration,conversion,libvirt,scale,caps,xmlcore")
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 15)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    started = time.monotonic()
    b = Bench(runs, args.quick)
    try:
        virsh = ("libvirt" in sections or "conversion" in sections) and oracle_ready()
        steps: dict[str, Callable[[], None]] = {
            "start": lambda: bench_start(b),
            "migration": lambda: bench_migration(b),
            "conversion": lambda: bench_conversion(b, virsh),
            "libvirt": lambda: bench_libvirt(b) if virsh else None,
            "scale": lambda: bench_scale(b),
            "caps": lambda: bench_caps(b),
            "xmlcore": lambda: bench_xmlcore(b),
        }
        for name in sections:
            print(f"bench: {name} ...", flush=True)
            steps[name]()
        if "libvirt" in sections and not virsh:
            b.report.sections.append(Section("libvirt 9.0 on the same machine",
                                             "Not measured: libvirt is not set up here "
                                             f"({ORACLE_SRC}/setup.sh).", ("", "", "", "", "")))
        missed = [t for t in b.report.targets if t.met is False]
        if missed:
            b.report.profiles.append(("What any Python command pays here",
                                      stack_floor(b.runs)))
            b.report.profiles.append(("Import time of every pyvirt command module",
                                      import_profile()))
        for t in missed:
            if t.profile:
                b.report.profiles.append((t.text, runtime_profile(t.profile)))
        write_report(b, started, sections)
    finally:
        b.close()
    print(RESULTS.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
