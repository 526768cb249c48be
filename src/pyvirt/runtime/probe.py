"""Probing a QEMU binary: launch it once without a guest and ask over QMP.

The answer is a :class:`~pyvirt.qemu.caps.QemuCaps`. Only a capability-cache miss
imports this module (:mod:`pyvirt.runtime.capscache`), so a hit never imports asyncio or
qemu.qmp.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import tempfile
from pathlib import Path

from pyvirt.errors import MonitorError, ProcessError
from pyvirt.qemu.caps import PROBED_DEVICES, QemuCaps
from pyvirt.qmp.monitor import Monitor

_LOG_TAIL_CHARS = 2000
_KVM_DEVICE = "/dev/kvm"


def kvm_accessible() -> bool:
    """True when this process may open /dev/kvm read-write (a host fact, re-read each call)."""
    return os.access(_KVM_DEVICE, os.R_OK | os.W_OK)


def probe_argv(binary: str, qmp_socket: Path, use_kvm: bool) -> tuple[str, ...]:
    """The command line of a probe: no guest, no devices, no config files, paused.

    With KVM, TCG follows as a fallback accelerator so a host whose /dev/kvm exists but
    does not work (e.g. a nested software hypervisor) still gets probed.
    """
    accel = ("-accel", "kvm", "-accel", "tcg") if use_kvm else ("-accel", "tcg")
    return (binary, "-machine", "none", "-nodefaults", "-no-user-config", "-display", "none",
            "-S", *accel, "-qmp", f"unix:{qmp_socket},server=on,wait=off")


async def probe(binary: str, *, timeout: float = 30.0, use_kvm: bool | None = None) -> QemuCaps:
    """Launch *binary* once and collect its capabilities over QMP.

    *use_kvm* None means "if /dev/kvm is accessible". The process is always reaped
    (killed if needed) and its private 0700 temp directory removed, also on errors and
    cancellation.

    :raises ProcessError: when the binary cannot be started, dies, does not answer
        within *timeout* seconds, or answers QMP unexpectedly. The message reads
        ``internal error: Failed to probe capabilities for BINARY: REASON``.
    """
    kvm = kvm_accessible() if use_kvm is None else use_kvm
    with tempfile.TemporaryDirectory(prefix="pyvirt-caps-") as tmp:  # mkdtemp: mode 0700
        log_path = Path(tmp) / "qemu.log"
        argv = probe_argv(binary, Path(tmp) / "qmp.sock", kvm)
        proc = _spawn(binary, argv, log_path)
        try:
            async with asyncio.timeout(timeout):
                caps = await _interrogate(binary, proc, Path(tmp) / "qmp.sock", kvm, timeout)
            await _wait_exit(proc, grace=2.0)
            return caps
        except (MonitorError, TimeoutError) as err:
            died = proc.poll() is not None  # on its own, before we kill it
            _kill(proc)
            if isinstance(err, TimeoutError):
                reason = f"no answer within {timeout:g}s"
            else:
                reason = _death_reason(proc, log_path) if died else err.detail
            raise ProcessError(f"Failed to probe capabilities for {binary}: {reason}", argv,
                               proc.returncode, _log_tail(log_path)) from err
        finally:
            _kill(proc)


def probe_sync(binary: str, *, timeout: float = 30.0, use_kvm: bool | None = None) -> QemuCaps:
    """:func:`probe` for synchronous callers (not from inside a running event loop).

    :raises ProcessError: as :func:`probe`.
    """
    return asyncio.run(probe(binary, timeout=timeout, use_kvm=use_kvm))


def _spawn(binary: str, argv: tuple[str, ...], log_path: Path) -> subprocess.Popen[bytes]:
    """Start the probe process; output goes to a file so a chatty QEMU cannot block."""
    with open(log_path, "wb") as log:
        try:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT)
        except OSError as err:
            raise ProcessError(f"Failed to probe capabilities for {binary}: "
                               f"{err.strerror or err}", argv) from err


async def _interrogate(binary: str, proc: subprocess.Popen[bytes], socket: Path,
                       kvm_requested: bool, timeout: float) -> QemuCaps:
    """Ask everything over one QMP session, then ask QEMU to quit.

    :raises MonitorError: on any QMP failure.
    """
    async with Monitor("pyvirt-caps") as monitor:
        await monitor.connect(socket, timeout=timeout, alive=lambda: proc.poll() is None)
        version = await monitor.query_version()
        machines = await monitor.query_machines()
        kvm = await monitor.query_kvm()
        # Pipelined: halves the probe time. return_exceptions lets every request finish
        # (no orphaned task) before the first failure is raised.
        answers = await asyncio.gather(
            *(monitor.device_list_properties(name) for name in PROBED_DEVICES),
            return_exceptions=True)
        props = {}
        for typename, names in zip(PROBED_DEVICES, answers, strict=True):
            if isinstance(names, BaseException):
                raise names
            if names is not None:  # absent from this binary (e.g. igb before QEMU 8.0)
                props[typename] = frozenset(names)
        await monitor.quit()
    return QemuCaps(binary, version.as_tuple(), kvm_requested and kvm.enabled, machines, props)


async def _wait_exit(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Give QEMU *grace* seconds to exit after ``quit``; the caller kills it otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while proc.poll() is None and loop.time() < deadline:
        await asyncio.sleep(0.005)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL (if still running) and reap. Blocking, but instant after SIGKILL."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    proc.wait()


def _log_tail(log_path: Path) -> str:
    try:
        data = log_path.read_bytes()[-_LOG_TAIL_CHARS:]
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace").strip()


def _death_reason(proc: subprocess.Popen[bytes], log_path: Path) -> str:
    tail = _log_tail(log_path)
    last_line = tail.splitlines()[-1] if tail else "no output"
    status = proc.returncode or 0
    how = f"killed by signal {-status}" if status < 0 else f"exited with status {status}"
    return f"process {how}: {last_line}"
