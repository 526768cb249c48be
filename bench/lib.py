"""Measuring helpers for bench/run.py: timed commands, medians, the machine."""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PYVIRT = [PYTHON, "-m", "pyvirt.cli"]


@dataclass
class Samples:
    """Seconds (or any unit) measured for one thing."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def spread(self, scale: float = 1000.0, unit: str = "ms") -> str:
        if not self.values:
            return "-"
        return (f"{self.median * scale:.1f} {unit} (min {min(self.values) * scale:.1f}, "
                f"max {max(self.values) * scale:.1f}, n={len(self.values)})")


def timed(argv: Sequence[str], check: bool = True, env: dict[str, str] | None = None,
          timeout: float = 300) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run *argv*; (wall seconds, result). :raises RuntimeError: when it fails and *check*."""
    started = time.perf_counter()
    proc = subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=timeout)
    elapsed = time.perf_counter() - started
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed, proc


def pyvirt(uri: str, *args: str, check: bool = True
           ) -> tuple[float, subprocess.CompletedProcess[str]]:
    return timed([*PYVIRT, "-c", uri, *args], check=check)


def alternate(n: int, a: Callable[[], None], b: Callable[[], None]) -> None:
    """A, B, A, B ... n times each (the order flips every pair, so drift hurts neither)."""
    for i in range(n):
        first, second = (a, b) if i % 2 == 0 else (b, a)
        first()
        second()


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "-"


def _first_line(argv: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.strip().splitlines()[0] if out.strip() else "?"


def machine() -> list[tuple[str, str]]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    flags = re.search(r"^flags\s*:\s*(.*)$", cpuinfo, re.M)
    hw_virt = bool(flags and {"vmx", "svm"} & set(flags.group(1).split()))
    mem_kib = int(re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
                  .group(1))  # type: ignore[union-attr]
    # PYVIRT_BENCH_REVISION names the tree when it is an export, not a git checkout
    rev = os.environ.get("PYVIRT_BENCH_REVISION") or \
        _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"],
                           capture_output=True, text=True).stdout.strip()
    virt = "hardware virtualisation" if hw_virt else "no vmx/svm: guests run under TCG"
    return [
        ("CPU", f"{model.group(1) if model else '?'} × {os.cpu_count()} ({virt})"),
        ("Memory", f"{mem_kib / 1048576:.1f} GiB"),
        ("Kernel", platform.release()),
        ("Python", platform.python_version()),
        ("QEMU", _first_line(["qemu-system-x86_64", "--version"])),
        ("libvirt", _first_line(["virsh", "--version"]) if shutil.which("virsh") else "absent"),
        ("pyvirt", f"git {rev}{' + local changes' if dirty else ''}"),
        ("Date", time.strftime("%Y-%m-%d %H:%M %Z")),
    ]
