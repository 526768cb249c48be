"""The typed QMP facade: one :class:`Monitor` per QEMU monitor socket.

This module and :mod:`pyvirt.qmp.models` are the only places in pyvirt that see raw QMP.
``qemu.qmp`` has no type stubs, so its objects are ``Any``; they stay inside
:class:`Monitor` and every public method returns a model from :mod:`pyvirt.qmp.models`
or a plain Python value. Every ``qemu.qmp`` failure leaves as a
:class:`~pyvirt.errors.MonitorError`.

To add a command: write a parser in ``models.py`` and a three-line method here that
calls :meth:`Monitor._execute` and the parser.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING

from qemu.qmp import (
    ConnectError,
    EventListener,
    ExecInterruptedError,
    ExecuteError,
    QMPClient,
    QMPError,
)
from qemu.qmp import Runstate as _Runstate

from pyvirt.errors import CommandFailedError, MonitorError
from pyvirt.qmp.events import Event, parse_event
from pyvirt.qmp.models import (
    KvmInfo,
    MigrationInfo,
    QemuVersion,
    RunStatus,
    parse_kvm,
    parse_machines,
    parse_migrate_info,
    parse_pci_device_ids,
    parse_property_names,
    parse_status,
    parse_version,
    parse_virtio_guest_features,
)
from pyvirt.qmp.unixpath import connectable_path

if TYPE_CHECKING:
    from pyvirt.qemu.caps import MachineInfo

# QEMU creates its socket a few tens of ms after spawn; start polling fast, then back off
# so a slow start does not cost a busy loop.
_CONNECT_FIRST_DELAY = 0.005
_CONNECT_MAX_DELAY = 0.05


def _is_not_listening_yet(err: BaseException) -> bool:
    """True for the connect failures that mean "QEMU has not created the socket yet"."""
    cause = getattr(err, "exc", None)  # ConnectError wraps the root cause in .exc
    return isinstance(cause, FileNotFoundError | ConnectionRefusedError)


def _is_hang_up(err: BaseException) -> bool:
    """True when QEMU closed the connection during the handshake: it is exiting (its
    process may not look dead yet), so the caller's liveness check decides."""
    return isinstance(getattr(err, "exc", None), EOFError | ConnectionResetError)


class Monitor:
    """An asyncio QMP connection to one QEMU.

    Not thread-safe; use it from one event loop. ``qemu.qmp`` queues every event on its
    default listener until someone drains it; this is harmless for short conversations
    (probing) but a long-lived connection must consume events (to be added with the
    runtime).
    """

    def __init__(self, name: str = "pyvirt") -> None:
        self._client = QMPClient(name)
        self._socket_path: str | None = None

    @property
    def connected(self) -> bool:
        """True while a QMP session is established and not torn down."""
        return bool(self._client.runstate == _Runstate.RUNNING)

    async def connect(
        self,
        socket_path: str | os.PathLike[str],
        timeout: float = 10.0,
        alive: Callable[[], bool] | None = None,
    ) -> None:
        """Connect to QEMU's QMP server socket and negotiate capabilities.

        QEMU started with ``server=on,wait=off`` creates the socket shortly after spawn,
        so a missing or refusing socket is retried until *timeout* seconds have passed.
        *socket_path* may be longer than a socket address holds (see
        :mod:`pyvirt.qmp.unixpath`).
        *alive* is polled between attempts; when it returns False (the process died) the
        wait ends at once instead of running out the timeout.

        :raises MonitorError: on timeout, when *alive* reports the process gone, or when
            the socket exists but no QMP session can be established.
        """
        path = os.fspath(socket_path)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = _CONNECT_FIRST_DELAY
        last_error = "socket not created yet"
        while True:
            if alive is not None and not alive():
                raise MonitorError(f"QEMU exited before its monitor at {path} accepted a "
                                   f"connection (last attempt: {last_error})")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise MonitorError(f"timed out after {timeout:g}s waiting for the QEMU "
                                   f"monitor at {path} ({last_error})")
            # Checked first because every failed qemu.qmp connect logs at ERROR level.
            if os.path.exists(path):
                failure = await self._attempt_connect(path, remaining, alive)
                if failure is None:
                    self._socket_path = path
                    return
                last_error = failure
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
            delay = min(delay * 2, _CONNECT_MAX_DELAY)

    async def _attempt_connect(
        self, path: str, timeout: float, alive: Callable[[], bool] | None
    ) -> str | None:
        """One connection attempt: None on success, else why it is worth retrying.

        :raises MonitorError: for a failure that retrying will not cure.
        """
        try:
            # Bounded: a socket that accepts but never greets (another client holds
            # QEMU's single QMP connection) would otherwise hang here.
            async with asyncio.timeout(timeout):
                with connectable_path(path) as reachable:  # any length (unixpath.py)
                    await self._client.connect(reachable)
        except TimeoutError:
            return "no QMP greeting"
        except ConnectError as err:
            # A dying QEMU also makes the session fail; the caller then reports the death.
            # It hangs up a moment before its process is gone, hence the retry.
            if _is_not_listening_yet(err) or (alive is not None and (
                    not alive() or _is_hang_up(err))):
                return str(err)
            raise MonitorError(f"cannot connect to the QEMU monitor at {path}: {err}") from err
        except QMPError as err:  # StateError: this Monitor is already connected
            raise MonitorError(f"cannot connect to the QEMU monitor at {path}: {err}") from err
        except OSError as err:  # the socket's directory, opened for a long path
            if isinstance(err, FileNotFoundError):
                return str(err)
            raise MonitorError(f"cannot connect to the QEMU monitor at {path}: "
                               f"{err.strerror or err}") from err
        return None

    async def close(self) -> None:
        """Disconnect; safe to call at any time, also twice and after QEMU has exited.

        ``qemu.qmp`` re-raises from ``disconnect()`` whatever stopped its reader task,
        which is ``EOFError`` (or a reset) whenever QEMU exited first. At close time
        that is the expected outcome, not an error, so it is swallowed.
        """
        if self._client.runstate == _Runstate.IDLE:
            return
        with contextlib.suppress(EOFError, OSError, QMPError):
            await self._client.disconnect()

    async def __aenter__(self) -> Monitor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _execute(
        self,
        cmd: str,
        args: Mapping[str, object] | None = None,
        *,
        hangup_ok: bool = False,
    ) -> object:
        """Run one QMP command and return its raw ``return`` value.

        *hangup_ok* is for commands after which QEMU may close the connection before the
        reply arrives (``quit``): the hang-up then counts as success and None is returned.

        :raises CommandFailedError: when QEMU answers with an error.
        :raises MonitorError: when the command could not be sent or its answer was lost.
        """
        try:
            reply: object = await self._client.execute(cmd, dict(args) if args else None)
        except ExecuteError as err:
            raise CommandFailedError.answered(cmd, str(err.error_class), str(err)) from err
        except (ExecInterruptedError, EOFError, ConnectionError) as err:
            if hangup_ok:
                return None
            raise MonitorError(f"QEMU closed the monitor during '{cmd}'") from err
        except QMPError as err:  # StateError (not connected), protocol errors
            where = self._socket_path or "(not connected)"
            raise MonitorError(f"QMP command '{cmd}' on {where} failed: {err}") from err
        return reply

    # --- typed commands ----------------------------------------------------------------

    async def query_version(self) -> QemuVersion:
        """QEMU's version. :raises MonitorError: on failure or an unexpected reply."""
        return parse_version(await self._execute("query-version"))

    async def query_machines(self) -> tuple[MachineInfo, ...]:
        """Machine types, sorted by name. :raises MonitorError: on failure."""
        return parse_machines(await self._execute("query-machines"))

    async def query_kvm(self) -> KvmInfo:
        """KVM support and use. :raises MonitorError: on failure."""
        return parse_kvm(await self._execute("query-kvm"))

    async def device_list_properties(self, typename: str) -> tuple[str, ...] | None:
        """Sorted property names of device type *typename*, or None when this QEMU has
        no such device type (QMP ``DeviceNotFound``).

        :raises MonitorError: on any other failure (e.g. an abstract type name).
        """
        try:
            reply = await self._execute("device-list-properties", {"typename": typename})
        except CommandFailedError as err:
            if err.error_class == "DeviceNotFound":
                return None
            raise
        return parse_property_names(reply)

    async def quit(self) -> None:
        """Ask QEMU to exit. The caller still reaps the process and calls :meth:`close`.

        :raises MonitorError: when the command could not be sent.
        """
        await self._execute("quit", hangup_ok=True)

    # --- running guests ----------------------------------------------------------------

    async def query_status(self) -> RunStatus:
        """:raises MonitorError: on failure."""
        return parse_status(await self._execute("query-status"))

    async def cont(self) -> None:
        await self._execute("cont")

    async def stop(self) -> None:
        await self._execute("stop")

    async def system_powerdown(self) -> None:
        await self._execute("system_powerdown")

    async def system_reset(self) -> None:
        await self._execute("system_reset")

    async def pci_device_ids(self) -> tuple[str, ...]:
        """qdev ids of every device on the guest's PCI buses (``query-pci``)."""
        return parse_pci_device_ids(await self._execute("query-pci"))

    async def virtio_standby_negotiated(self, path: str) -> bool:
        """True when the guest accepted VIRTIO_NET_F_STANDBY on the virtio device at
        QOM *path*; False also when there is no such device.

        :raises MonitorError: when QEMU cannot be asked.
        """
        try:
            reply = await self._execute("x-query-virtio-status", {"path": path})
        except CommandFailedError:
            return False
        return "VIRTIO_NET_F_STANDBY" in parse_virtio_guest_features(reply)

    @contextlib.asynccontextmanager
    async def events(self, *names: str) -> AsyncIterator[EventStream]:
        """Receive the named events (all when none) while the block runs.

        Registered before the block's first command is sent, so nothing is missed.
        """
        listener = EventListener(names or None)
        self._client.register_listener(listener)
        try:
            yield EventStream(listener)
        finally:
            self._client.remove_listener(listener)

    async def powerdown_and_wait(self, timeout: float) -> bool:
        """Press the ACPI power button; True once the guest has powered off (QEMU
        reports SHUTDOWN, or exits) within *timeout* s.

        :raises MonitorError: when the button cannot be pressed.
        """
        async with self.events("SHUTDOWN") as stream:
            await self.system_powerdown()
            try:
                await stream.next(timeout)
            except TimeoutError:
                return False
        return True

    # --- migration ----------------------------------------------------------------------

    async def enable_migration_events(self) -> None:
        """Turn on the MIGRATION event (and keep QEMU's other defaults)."""
        await self._execute("migrate-set-capabilities",
                            {"capabilities": [{"capability": "events", "state": True}]})

    async def set_migration_bandwidth(self, bytes_per_second: int) -> None:
        await self._execute("migrate-set-parameters", {"max-bandwidth": bytes_per_second})

    async def migrate(self, uri: str) -> None:
        await self._execute("migrate", {"uri": uri})

    async def migrate_incoming(self, uri: str) -> None:
        await self._execute("migrate-incoming", {"uri": uri})

    async def migrate_cancel(self) -> None:
        await self._execute("migrate_cancel")

    async def query_migrate(self) -> MigrationInfo:
        return parse_migrate_info(await self._execute("query-migrate"))

    # --- hot-plug -----------------------------------------------------------------------

    async def netdev_add(self, props: Mapping[str, object]) -> None:
        """Create a network backend (``type``, ``id`` ... as for ``-netdev``).

        :raises CommandFailedError: when QEMU refuses it (e.g. a duplicate id).
        """
        await self._execute("netdev_add", props)

    async def netdev_del(self, netdev_id: str) -> None:
        """:raises CommandFailedError: when there is no such backend."""
        await self._execute("netdev_del", {"id": netdev_id})

    async def device_add(self, props: Mapping[str, object]) -> None:
        """Plug a device (``driver``, ``id``, ``bus`` ... as for ``-device``). A failover
        primary whose standby has not negotiated yet is accepted but kept hidden.

        :raises CommandFailedError: when QEMU refuses it (busy slot, bus without hot-plug,
            a second primary for one standby ...).
        """
        await self._execute("device_add", props)

    async def device_del(self, device_id: str) -> None:
        """Ask for the removal of a device; it is gone once DEVICE_DELETED arrives (for a
        PCI device: once the guest has ejected it).

        :raises CommandFailedError: ``DeviceNotFound`` when QEMU has no such device (also
            for a hidden failover primary), ``GenericError`` when an unplug of it is
            already pending.
        """
        await self._execute("device_del", {"id": device_id})

    async def device_del_and_wait(self, device_id: str, timeout: float) -> bool:
        """:meth:`device_del`, then wait for its DEVICE_DELETED. True when the device is
        gone within *timeout* s, False when it is still being unplugged (an unplug
        already pending counts as requested).

        :raises CommandFailedError: as :meth:`device_del`, except for a pending unplug.
        """
        async with self.events("DEVICE_DELETED") as stream:
            try:
                await self.device_del(device_id)
            except CommandFailedError as err:
                if "already in the process of unplug" not in err.description:
                    raise
            return await _wait_deleted(stream, device_id, timeout)

    async def set_link(self, name: str, up: bool) -> None:
        """Set the link of the NIC whose device id (or netdev id) is *name*.

        :raises CommandFailedError: when there is no such NIC.
        """
        await self._execute("set_link", {"name": name, "up": up})


async def _wait_deleted(stream: EventStream, device_id: str, timeout: float) -> bool:
    """True once DEVICE_DELETED names *device_id*; False after *timeout* s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        try:
            event = await stream.next(remaining)
        except TimeoutError:
            return False
        if event.name == "DEVICE_DELETED" and event.device == device_id:
            return True


class EventStream:
    """Typed events from one listener."""

    def __init__(self, listener: EventListener) -> None:
        self._listener = listener

    async def next(self, timeout: float | None = None) -> Event:
        """The next event. :raises TimeoutError: after *timeout* s without one."""
        async with asyncio.timeout(timeout):
            raw = await self._listener.get()
        return parse_event(raw)
