"""What the host's /proc says: a process's CPU time, the node's CPUs and memory.

For the API's ``virDomain.info()`` (CPU time), ``virConnect.getInfo()`` and
``getFreeMemory()``. Every reader takes the /proc directory so tests can hand it a fake.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

PROC = Path("/proc")
SYS_NODES = Path("/sys/devices/system/node")


def cpu_time_ns(pid: int, proc: Path = PROC) -> int:
    """User plus system CPU time of process *pid* (all its threads: QEMU's vCPUs and
    the rest), in nanoseconds; 0 when it is gone.

    libvirt sums the vCPU threads only; the process total is what ``/proc/PID/stat``
    gives at once, and differs by QEMU's own I/O and main-loop time.
    """
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return 0
    # the command name, in parentheses, may hold spaces and parentheses: fields
    # after the last ")" are state (3), ... utime (14), stime (15)
    fields = text[text.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _meminfo(proc: Path) -> dict[str, int]:
    """/proc/meminfo in KiB."""
    found = {}
    for line in (proc / "meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            found[key] = int(parts[0])
    return found


def free_memory(proc: Path = PROC) -> int:
    """Free memory of the host in bytes (MemFree, as libvirt's virNodeGetFreeMemory)."""
    return _meminfo(proc).get("MemFree", 0) * 1024


def node_info(proc: Path = PROC, nodes_dir: Path = SYS_NODES) -> list[object]:
    """libvirt's ``virNodeInfo`` as ``virConnect.getInfo()`` lists it: [model, memory
    MiB, cpus, mhz, nodes, sockets per node, cores per socket, threads per core]."""
    cpus = os.cpu_count() or 1
    mhz = 0
    sockets: set[str] = set()
    cores = siblings = 0
    try:
        cpuinfo = (proc / "cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "cpu MHz" and not mhz:
            mhz = int(float(value))
        elif key == "physical id":
            sockets.add(value)
        elif key == "cpu cores" and not cores:
            cores = int(value)
        elif key == "siblings" and not siblings:
            siblings = int(value)
    nodes = len(list(nodes_dir.glob("node[0-9]*"))) if nodes_dir.is_dir() else 1
    nodes = max(nodes, 1)
    cores = max(cores, 1)
    threads = max(siblings // cores, 1) if siblings else 1
    per_node = max(len(sockets) // nodes, 1)
    if per_node * nodes * cores * threads != cpus:  # odd topology: libvirt's fallback
        per_node, cores, threads, nodes = 1, cpus, 1, 1
    memory_mib = _meminfo(proc).get("MemTotal", 0) // 1024
    return [platform.machine(), memory_mib, cpus, mhz, nodes, per_node, cores, threads]
