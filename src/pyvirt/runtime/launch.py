"""Launching QEMU for a start, and launch plans: ``start`` without rebuilding.

Everything ``start`` derives from a definition before QEMU runs (the command line, the
live XML, the links to set down) needs the XML model, validation and the command builder,
about a hundred milliseconds of imports in a fresh ``pyvirt`` process. A :class:`LaunchPlan`
remembers that result, keyed by everything it was derived from: the stored definition,
the emulator binary and its capability record, pyvirt's own code, the state root and
``qemu_user``. :func:`quick_start` checks the key, spawns QEMU, and only then imports the
QMP client, while QEMU initialises: ``pyvirt start`` then costs little more than QEMU's own
start-up. Any doubt (no plan, any key part changed, a run directory with something in
it, host records to reconcile) leaves the start to the full path, which writes a fresh
plan. Only a domain that holds no host resources gets a plan at all
(:func:`pyvirt.runtime.domain.plan_eligible`, a whitelist): a plan replays the command
line, not the host hooks.

This module does no XML work and imports neither the model nor asyncio.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyvirt.errors import MonitorError, ProcessError
from pyvirt.runtime import process
from pyvirt.runtime.state import DomainState, Reason, StateInfo
from pyvirt.runtime.status import (
    RunDir,
    RuntimeStatus,
    allocate_domid,
    domain_lock,
    is_quick_name,
    qemu_log,
)
from pyvirt.runtime.stop import stopped
from pyvirt.store.atomic import ensure_dir, remove_file, write_atomic
from pyvirt.store.roots import StateRoot

PLAN_FORMAT = 1
CONNECT_TIMEOUT = 30.0
_PACKAGE = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Launch:
    """What QEMU is started with, and what is recorded for the running domain."""

    name: str
    uuid: str
    argv: tuple[str, ...]
    definition_xml: str  # the definition it was started from (RunDir.definition)
    live_xml: str  # with runtime aliases and host allocations (RunDir.live_xml)
    link_down: tuple[str, ...]  # aliases of interfaces whose link starts down


def traverse_for(root: StateRoot, rd: RunDir) -> tuple[Path, ...]:
    """The private directories QEMU must pass through to reach its own: those from the
    state root (the directory all its parts share: DIR of an embed root) down to the run
    directory that are closed to others (world-searchable ones need nothing, and the ones
    above the state root are the admin's business)."""
    top = Path(os.path.commonpath([root.config_dir, root.run_dir, root.log_dir,
                                   root.cache_dir]))
    chain = [rd.path, *rd.path.parents]
    below_top = chain[:chain.index(top) + 1] if top in chain else [rd.path]
    return tuple(d for d in reversed(below_top) if not d.lstat().st_mode & stat.S_IXOTH)


def spawn_qemu(root: StateRoot, rd: RunDir, launch: Launch, log_path: Path,
               qemu_user: str | None, pass_fds: tuple[int, ...] = ()) -> RuntimeStatus:
    """Write the run directory's records, spawn QEMU (paused: ``-S``) with the
    descriptors *pass_fds* (tap NICs) and record it as starting up. On failure the live
    and started-from XML are removed again.

    :raises PyvirtError: when a file cannot be written or QEMU cannot be executed.
    """
    try:
        rd.create()
        ensure_dir(root.log_dir)
        remove_file(rd.monitor)
        write_atomic(rd.definition, launch.definition_xml)
        write_atomic(rd.live_xml, launch.live_xml)
        ident = process.spawn(launch.argv, log_path, user=qemu_user,
                              hand_over=(rd.qemu_dir,),
                              traverse=traverse_for(root, rd) if qemu_user else (),
                              cwd=rd.qemu_dir, pass_fds=pass_fds)
    except BaseException:
        remove_file(rd.live_xml)
        remove_file(rd.definition)
        raise
    starting = StateInfo(DomainState.PAUSED, Reason.STARTING_UP)
    status = RuntimeStatus(ident.pid, ident.start_time, starting.state.name,
                           starting.reason.value, launch.uuid, allocate_domid(root.run_dir))
    rd.write_status(status)
    return status


async def bring_up(rd: RunDir, status: RuntimeStatus, launch: Launch, log_path: Path,
                   paused: bool, incoming: str | None, stop: Callable[[], None]) -> None:
    """The QMP part of a start: connect to the QEMU just spawned, set links down (QEMU
    has no option for it), resume unless paused or incoming, record the state.

    :raises ProcessError: with QEMU's last words when it does not come up; *stop* has
        then stopped it for good.
    """
    from pyvirt.qmp.monitor import Monitor  # asyncio + qemu.qmp: after the spawn

    try:
        async with Monitor() as mon:
            await mon.connect(rd.monitor, timeout=CONNECT_TIMEOUT, alive=status.process.alive)
            for alias in launch.link_down:
                await mon.set_link(alias, False)
            if not paused and incoming is None:
                await mon.cont()
    except MonitorError as err:
        died = not status.process.alive()
        stop()
        if died:
            raise ProcessError(
                "process exited while connecting to monitor: "
                f"{process.last_error_line(log_path)}",
                status=None, log_tail=process.log_tail(log_path)) from err
        raise ProcessError(f"QEMU did not answer on its monitor: {err.detail}") from err
    final = StateInfo(DomainState.PAUSED, Reason.MIGRATION) if incoming else \
        StateInfo(DomainState.PAUSED, Reason.USER) if paused else \
        StateInfo(DomainState.RUNNING, Reason.BOOTED)
    rd.write_status(status.with_state(final))


# --- plans --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchPlan:
    key: dict[str, object]
    launch: Launch


def plan_path(root: StateRoot, name: str) -> Path:
    return root.cache_dir / "launch" / f"{name}.json"


def plan_key(root: StateRoot, definition_xml: str, emulator: str, caps_entry: Path,
             qemu_user: str | None) -> dict[str, object] | None:
    """Everything a plan is derived from; None when part of it cannot be read.

    Whatever ``start`` comes to read besides these (a new ``pyvirt.conf`` setting, a new
    host fact) must join the key, or a plan would outlive it.
    """
    try:
        binary = os.stat(os.path.realpath(emulator))
        caps = caps_entry.stat()
    except OSError:
        return None
    return {
        "format": PLAN_FORMAT,
        "definition": hashlib.sha256(definition_xml.encode()).hexdigest(),
        # ctime and mode too: a chmod (the full path checks it can execute the binary)
        # changes neither size nor mtime
        "emulator": [emulator, binary.st_size, binary.st_mtime_ns, binary.st_ctime_ns,
                     binary.st_mode],
        "caps": [str(caps_entry), caps.st_size, caps.st_mtime_ns],
        "code": code_stamp(),
        "root": [str(root.config_dir), str(root.run_dir), str(root.log_dir),
                 str(root.cache_dir)],
        "qemu_user": qemu_user,
    }


_code_stamp: str | None = None


def code_stamp() -> str:
    """A digest of pyvirt's own files (name, size, mtime): a plan made by other code is
    not trusted, so editing or upgrading pyvirt can never start a stale command line."""
    global _code_stamp
    if _code_stamp is None:
        digest = hashlib.sha256()
        for folder, dirs, files in os.walk(_PACKAGE):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for file in sorted(files):
                st = os.stat(os.path.join(folder, file))
                digest.update(f"{folder}/{file}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        _code_stamp = digest.hexdigest()
    return _code_stamp


def save_plan(root: StateRoot, plan: LaunchPlan) -> None:
    """Remember *plan* (best effort: a plan is only ever a shortcut)."""
    launch = plan.launch
    document = {"key": plan.key, "name": launch.name, "uuid": launch.uuid,
                "argv": list(launch.argv), "definition_xml": launch.definition_xml,
                "live_xml": launch.live_xml, "link_down": list(launch.link_down)}
    path = plan_path(root, launch.name)
    try:
        ensure_dir(path.parent)
        write_atomic(path, json.dumps(document))
    except Exception:  # a full disk must not fail the start
        forget_plan(root, launch.name)


def forget_plan(root: StateRoot, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(plan_path(root, name))


def load_plan(root: StateRoot, name: str) -> LaunchPlan | None:
    """The remembered plan of *name*, if a well-formed one exists."""
    try:
        doc = json.loads(plan_path(root, name).read_bytes())
        launch = Launch(str(doc["name"]), str(doc["uuid"]),
                        tuple(str(a) for a in doc["argv"]), str(doc["definition_xml"]),
                        str(doc["live_xml"]), tuple(str(a) for a in doc["link_down"]))
        key = doc["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(key, dict) or launch.name != name:
        return None
    return LaunchPlan(key, launch)


# --- the quick start ----------------------------------------------------------------------

def quick_start(root: StateRoot, name: str, paused: bool,
                read_qemu_user: Callable[[], str | None]) -> bool:
    """Start the defined domain *name* from its plan; False (nothing done) when the
    full start must do it. Callers go through :mod:`pyvirt.service.lifecycle`.

    *read_qemu_user* reads ``qemu_user`` from pyvirt.conf (a part of the key); it is
    called under the domain lock, only when a plan exists.

    :raises PyvirtError: as ``start`` (busy lock, a broken pyvirt.conf, QEMU failing to
        come up, ...).
    """
    plan = load_plan(root, name) if is_quick_name(name) else None
    if plan is None:
        return False
    from pyvirt.host.netstate import HostState

    with domain_lock(root, name, "start"):
        qemu_user = read_qemu_user()
        if not _plan_holds(root, name, plan, qemu_user):
            return False
        rd = RunDir(root.domain_run_dir(name))
        # anything in the run directory (a record, an orphan QEMU) is the full path's to
        # reconcile, and so are host devices left claimed by an earlier run
        if rd.read_status() is not None or rd.pidfile_process() is not None or \
                HostState.of(root).has_records():
            return False
        log_path = qemu_log(root, name)
        status = spawn_qemu(root, rd, plan.launch, log_path, qemu_user)

        def stop() -> None:  # QEMU did not come up (a plan's domain holds no host resources)
            stopped(rd, Reason.FAILED, status.process)

        import asyncio  # only now, while QEMU initialises

        asyncio.run(bring_up(rd, status, plan.launch, log_path, paused, None, stop))
    return True


def _plan_holds(root: StateRoot, name: str, plan: LaunchPlan, qemu_user: str | None) -> bool:
    try:
        stored = (root.config_dir / f"{name}.xml").read_bytes().decode()  # as written
    except (OSError, UnicodeDecodeError):
        return False
    emulator = plan.key.get("emulator")
    caps = plan.key.get("caps")
    if not (isinstance(emulator, list) and emulator and isinstance(caps, list) and caps):
        return False
    return plan.key == plan_key(root, stored, str(emulator[0]), Path(str(caps[0])),
                                qemu_user)
