"""The floor for ``pyvirt start`` / ``pyvirt destroy``: the same QEMU command line
launched, resumed and stopped by the least code that can do it (stdlib only, no state
records, no validation).

    floor.py start ARGV.json LOG    spawn QEMU detached, QMP handshake, cont, until running
    floor.py destroy PIDFILE        SIGTERM (SIGKILL after 5 s), until QEMU is gone
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time


def qmp_connect(path: str, proc: subprocess.Popen[bytes] | None, timeout: float = 30.0
                ) -> tuple[socket.socket, object]:
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            break
        except OSError:
            sock.close()
            if time.monotonic() > deadline or (proc is not None and proc.poll() is not None):
                raise SystemExit(f"QEMU monitor {path} never answered") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    reader = sock.makefile("rb")
    reader.readline()  # greeting
    return sock, reader


def qmp(sock: socket.socket, reader: object, command: str, **args: object) -> object:
    sock.sendall(json.dumps({"execute": command, "arguments": args}).encode() + b"\n")
    while True:
        answer = json.loads(reader.readline())  # type: ignore[attr-defined]
        if "event" in answer:
            continue
        if "error" in answer:
            raise SystemExit(f"{command}: {answer['error']}")
        return answer["return"]


def socket_of(argv: list[str]) -> str:
    chardev = argv[argv.index("-chardev") + 1]
    return next(item[5:] for item in chardev.split(",") if item.startswith("path="))


def start(argv_file: str, log_file: str) -> None:
    with open(argv_file) as stream:
        argv = json.load(stream)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
    sock, reader = qmp_connect(socket_of(argv), proc)
    qmp(sock, reader, "qmp_capabilities")
    qmp(sock, reader, "cont")
    status = qmp(sock, reader, "query-status")
    if status["status"] != "running":  # type: ignore[index]
        raise SystemExit(f"QEMU is {status}")
    print(proc.pid)


def destroy(pidfile: str) -> None:
    with open(pidfile) as stream:
        pid = int(stream.read())
    fd = os.pidfd_open(pid)
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        os.kill(pid, sig)
        if select.select([fd], [], [], wait)[0]:
            break
    os.close(fd)  # QEMU removed its pidfile itself


if __name__ == "__main__":
    if sys.argv[1] == "start":
        start(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "destroy":
        destroy(sys.argv[2])
    else:
        raise SystemExit(__doc__)
