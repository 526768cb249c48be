"""The floor for ``pyvirt migrate``: the same live migration with failover, driven by the
least raw QMP that does it right (stdlib only).

    raw_migrate.py SOURCE.sock DEST-ARGV.json DEST.log PRIMARY-ID PORT

Starts the destination QEMU (its argv ends in ``-incoming defer``), turns on migration
events on both sides, listens on the destination, migrates, follows the source's
MIGRATION events (wait-unplug included) to ``completed``, waits for the destination's
``completed``, resumes it, waits until the guest's primary is plugged on the destination
(polling ``query-pci`` every 0.1 s, as pyvirt does), and quits the source. Prints the
job statistics as JSON.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from typing import Any


class Qmp:
    def __init__(self, path: str, proc: subprocess.Popen[bytes] | None = None) -> None:
        deadline, delay = time.monotonic() + 30, 0.005
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline or (proc is not None and proc.poll() is not None):
                    raise SystemExit(f"QEMU monitor {path} never answered") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        self.reader = self.sock.makefile("rb")
        self.events: list[dict[str, Any]] = []
        self.reader.readline()
        self.run("qmp_capabilities")

    def run(self, command: str, **args: Any) -> Any:
        self.sock.sendall(json.dumps({"execute": command, "arguments": args}).encode() + b"\n")
        while True:
            answer = json.loads(self.reader.readline())
            if "event" in answer:
                self.events.append(answer)
                continue
            if "error" in answer:
                raise SystemExit(f"{command}: {answer['error']}")
            return answer["return"]

    def next_event(self) -> dict[str, Any]:
        if self.events:
            return self.events.pop(0)
        while True:
            message: dict[str, Any] = json.loads(self.reader.readline())
            if "event" in message:
                return message


def pci_ids(buses: list[dict[str, Any]]) -> set[str]:
    """Every device id on the PCI buses, behind bridges and root ports too."""
    found: set[str] = set()
    for bus in buses:
        for device in bus.get("devices", []):
            found.add(device.get("qdev_id", ""))
            found |= pci_ids([device.get("pci_bridge", {})])
    return found


def socket_of(argv: list[str]) -> str:
    chardev = argv[argv.index("-chardev") + 1]
    return next(item[5:] for item in chardev.split(",") if item.startswith("path="))


def main(source_sock: str, argv_file: str, log_file: str, primary: str, port: int) -> None:
    with open(argv_file) as stream:
        argv = json.load(stream)
    with open(log_file, "ab") as log:
        dest_proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True, close_fds=True)
    src = Qmp(source_sock)
    dest = Qmp(socket_of(argv), dest_proc)
    events = [{"capability": "events", "state": True}]
    src.run("migrate-set-capabilities", capabilities=events)
    dest.run("migrate-set-capabilities", capabilities=events)
    dest.run("migrate-incoming", uri=f"tcp:127.0.0.1:{port}")
    src.run("migrate", uri=f"tcp:127.0.0.1:{port}")
    unplug_started = unplug_ms = None
    while True:
        event = src.next_event()
        if event["event"] != "MIGRATION":
            continue
        status = event["data"]["status"]
        stamp = event["timestamp"]["seconds"] + event["timestamp"]["microseconds"] / 1e6
        if status == "wait-unplug":
            unplug_started = stamp
        elif unplug_started is not None and unplug_ms is None:
            unplug_ms = round((stamp - unplug_started) * 1000)
        if status in ("completed", "failed", "cancelled"):
            break
    if status != "completed":
        raise SystemExit(f"migration {status}")
    info = src.run("query-migrate")
    for _ in range(50):  # QEMU fills in the downtime a moment after announcing completion
        if info.get("downtime"):
            break
        time.sleep(0.01)
        info = src.run("query-migrate")
    while dest.run("query-migrate").get("status") != "completed":
        event = dest.next_event()
    dest.run("cont")
    while primary not in pci_ids(dest.run("query-pci")):
        time.sleep(0.1)
    src.run("quit")
    print(json.dumps({"downtime_ms": info.get("downtime"), "total_ms": info.get("total-time"),
                      "setup_ms": info.get("setup-time"), "wait_unplug_ms": unplug_ms,
                      "dest_pid": dest_proc.pid}))


if __name__ == "__main__":
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
