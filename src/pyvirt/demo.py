"""``make demo``: a teamed guest live-migrates between two "hosts" and stays online.

Two embed state roots on this machine play host A and host B. Every step is a real
``pyvirt`` command (printed before it runs); the guest's own serial reports show the
failover master, which NIC carries its traffic, and its probe counters before, during
and after the migration.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pyvirt.guest.build import build_guest
from pyvirt.guest.report import GuestReport, SerialLog
from pyvirt.guest.xml import demo_domain_xml

NAME = "demo"
BOOT_TIMEOUT = 120.0


def say(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def pyvirt(uri: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    shown = " ".join(shlex.quote(a) for a in ("pyvirt", "-c", uri, *args))
    print(f"$ {shown}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "pyvirt.cli", "-c", uri, *args],
                          text=True, stdout=subprocess.PIPE)
    if proc.stdout:
        print(proc.stdout, end="", flush=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"demo failed: pyvirt {args[0]} exited with {proc.returncode}")
    return proc


def show(report: GuestReport | None, prefix: str = "guest says: ") -> None:
    print(f"{prefix}{report.line() if report else '(no report yet)'}", flush=True)


class Recorder(threading.Thread):
    """Collects every guest report that changes the picture, while migration runs."""

    def __init__(self, serial: SerialLog) -> None:
        super().__init__(daemon=True)
        self.serial = serial
        self.stop = threading.Event()
        self.seen: list[GuestReport] = []

    def run(self) -> None:
        while not self.stop.wait(0.1):
            for report in self.serial.reports()[len(self.seen):]:
                self.seen.append(report)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="pyvirt-demo-"))
    host_a, host_b = f"qemu:///embed?root={work}/host-a", f"qemu:///embed?root={work}/host-b"
    try:
        return run(work, host_a, host_b)
    finally:
        for uri in (host_b, host_a):
            subprocess.run([sys.executable, "-m", "pyvirt.cli", "-c", uri, "destroy", NAME],
                           capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, host_a: str, host_b: str) -> int:
    say("Building the demo guest (Debian 12 kernel + busybox; cached after the first run)")
    image = build_guest(log=lambda line: print(f"  {line}", flush=True))
    print(f"guest image: {image.directory}")
    serial_path = work / "serial.log"
    xml = work / f"{NAME}.xml"
    xml.write_text(demo_domain_xml(NAME, image, serial_path))
    say("Host A: define and start a guest with a teamed pair (virtio standby + e1000e "
        "primary; the primary has no <mac>: pyvirt copies the standby's)")
    pyvirt(host_a, "define", str(xml))
    pyvirt(host_a, "dumpxml", "--inactive", NAME)
    pyvirt(host_a, "start", NAME)
    serial = SerialLog(serial_path, from_end=False)
    say("Waiting for the guest to report its failover bond and probe replies")
    bonded = serial.wait_for(lambda r: r.bonded and r.probe_ok > 0, BOOT_TIMEOUT)
    if bonded is None:
        raise SystemExit(f"demo failed: the guest did not bond: {serial.text()[-800:]}")
    show(bonded)
    pyvirt(host_a, "domfailover", NAME)
    say("Live migration A → B (QEMU unplugs the primary, waits for the guest to release "
        "it, moves RAM, and the destination plugs it back)")
    before = serial.latest() or bonded
    serial.mark()
    recorder = Recorder(serial)
    recorder.start()
    started = time.monotonic()
    pyvirt(host_a, "migrate", "--live", "--verbose", "--persistent", "--undefinesource",
           NAME, host_b)
    print(f"migrate returned after {time.monotonic() - started:.1f} s")
    after = serial.wait_for(lambda r: r.bonded and r.primary_driver == "e1000e"
                            and r.probe_ok >= before.probe_ok + 10, 60)
    recorder.stop.set()
    recorder.join()
    say("What the guest reported during the migration")
    previous = ""
    for report in recorder.seen:
        line = report.line()
        if line.split(" probe")[0] != previous:
            show(report, prefix=f"  t={report.uptime:6.2f}s  ")
            previous = line.split(" probe")[0]
    say("After: the guest runs on host B, bonded again")
    show(after or serial.latest())
    pyvirt(host_b, "list", "--all")
    pyvirt(host_a, "list", "--all")
    pyvirt(host_b, "domfailover", NAME)
    pyvirt(host_b, "domjobinfo", "--completed", NAME)
    final = serial.latest()
    if after is None or final is None:
        raise SystemExit("demo failed: the guest did not re-bond on host B")
    sent, ok = final.probe_sent - before.probe_sent, final.probe_ok - before.probe_ok
    say(f"Probe: {ok} of {sent} gateway pings (10/s) answered since the migration began "
        f"({sent - ok} lost: Linux net_failover drops replies from the moment the primary "
        "reappears until its link is up)")
    pyvirt(host_b, "shutdown", NAME)
    say("Done: the guest moved hosts with its passthrough NIC unplugged and re-plugged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
