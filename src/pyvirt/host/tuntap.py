"""The kernel boundary of tap NICs: ``/dev/net/tun``, ``/dev/vhost-net`` and rtnetlink.

The calls libvirt's ``virNetDevTapCreate``/``virNetDevTapCreateInBridgePort`` make:
``open(/dev/net/tun)`` + ``TUNSETIFF`` per queue, the tap's MAC and MTU, the bridge
port (``IFLA_MASTER``, what ``SIOCBRADDIF`` does), ``IFF_UP``; one
``open(/dev/vhost-net)`` per queue. :class:`KernelTaps` does them (pyroute2 for the
links); tests play the kernel with a fake of :class:`TapOps`.

Descriptors are opened close-on-exec: only the QEMU they are handed to (``pass_fds``)
inherits them. The taps are not persistent, so the kernel deletes one (and takes it off
its bridge) when its last descriptor closes, i.e. when QEMU exits.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

from pyvirt.errors import NetlinkCallError, SystemCallError
from pyvirt.types import MacAddress

TUN_PATH = "/dev/net/tun"
VHOST_PATH = "/dev/vhost-net"
TUNSETIFF = 0x400454CA
TUNGETIFF = 0x800454D2
MACVTAP_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFF_MULTI_QUEUE = 0x0100


def tap_flags(vnet_hdr: bool, queues: int) -> int:
    """``ifr_flags`` of ``TUNSETIFF`` as libvirt sets them."""
    return IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0) | \
        (IFF_MULTI_QUEUE if queues > 1 else 0)


class TapOps(Protocol):
    def ifindex(self, name: str) -> int | None:
        """The index of the link *name* in this network namespace, None if none."""
        ...

    def mtu(self, name: str) -> int:
        """:raises NetlinkCallError: ``Cannot get interface MTU on 'br0': No such device``."""
        ...

    def open_tap(self, name: str, flags: int, queues: int) -> list[int]:
        """*queues* descriptors of the tap *name* (created if it does not exist).
        :raises SystemCallError: in libvirt's words."""
        ...

    def open_vhost(self, queues: int) -> list[int]:
        """:raises OSError: when ``/dev/vhost-net`` cannot be opened."""
        ...

    def create_macvtap(self, name: str, lower: str, mode: str, mac: MacAddress) -> None:
        """A macvtap *name* on *lower* in *mode* (``bridge``, ``vepa``, ``private``)
        carrying the guest's *mac*, down. :raises NetlinkCallError: in libvirt's words."""
        ...

    def open_macvtap(self, ifindex: int, vnet_hdr: bool, queues: int) -> list[int]:
        """*queues* descriptors of ``/dev/tap<ifindex>`` with ``IFF_VNET_HDR`` as asked
        (and ``IFF_MULTI_QUEUE`` for several). :raises SystemCallError:."""
        ...

    def set_mac(self, name: str, mac: MacAddress) -> None: ...

    def set_mtu(self, name: str, mtu: int) -> None: ...

    def add_to_bridge(self, bridge: str, name: str) -> None: ...

    def set_up(self, name: str) -> None: ...

    def delete(self, name: str) -> None:
        """Remove the link *name*; :raises NetlinkCallError: (ENODEV when gone)."""
        ...

    def session(self) -> contextlib.AbstractContextManager[object]:
        """Within it, the calls share one netlink socket (a start's dozen requests)."""
        ...


T = TypeVar("T")


def outside_event_loop(call: Callable[[], T]) -> T:
    """Run *call* here, or in a short-lived thread when this thread runs an asyncio loop
    (``start`` does): pyroute2's synchronous ``IPRoute`` drives an event loop of its own
    and refuses to run inside another."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


def close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class KernelTaps:
    """The real kernel (needs CAP_NET_ADMIN in the current network namespace)."""

    def __init__(self, tun_path: str = TUN_PATH, vhost_path: str = VHOST_PATH) -> None:
        self.tun_path = tun_path
        self.vhost_path = vhost_path
        self._ipr: Any = None  # the session's socket

    @contextlib.contextmanager
    def session(self) -> Iterator[object]:
        """One rtnetlink socket for the calls inside (opening one costs ~1 ms with
        pyroute2 0.9). Not re-entrant; the caller runs it outside an event loop."""
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            self._ipr = ipr
            try:
                yield ipr
            finally:
                self._ipr = None

    def _with_ipr(self, call: Callable[[Any], T]) -> T:
        if self._ipr is not None:
            return call(self._ipr)
        from pyroute2 import IPRoute

        def alone() -> T:
            with IPRoute() as ipr:
                return call(ipr)

        return outside_event_loop(alone)

    def _link(self, what: str, name: str, command: str, **kwargs: Any) -> list[Any]:
        from pyroute2.netlink.exceptions import NetlinkError

        def call(ipr: Any) -> list[Any]:
            found = ipr.link_lookup(ifname=name)
            if not found:
                raise NetlinkCallError(what, errno.ENODEV)
            return list(ipr.link(command, index=found[0], **kwargs))

        try:
            return self._with_ipr(call)
        except NetlinkError as err:
            raise NetlinkCallError(what, err.code) from err
        except OSError as err:
            raise NetlinkCallError(what, err.errno or errno.EIO) from err

    def ifindex(self, name: str) -> int | None:
        def call(ipr: Any) -> int | None:
            found = ipr.link_lookup(ifname=name)
            return int(found[0]) if found else None

        return self._with_ipr(call)

    def mtu(self, name: str) -> int:
        [msg] = self._link(f"Cannot get interface MTU on '{name}'", name, "get")[:1]
        return int(msg.get_attr("IFLA_MTU"))

    def open_tap(self, name: str, flags: int, queues: int) -> list[int]:
        fds: list[int] = []
        try:
            for _ in range(queues):
                try:
                    fd = os.open(self.tun_path, os.O_RDWR | os.O_CLOEXEC)
                except OSError as err:
                    raise SystemCallError(f"Unable to open {self.tun_path}, is tun module "
                                          f"loaded?: {err.strerror}") from err
                fds.append(fd)
                ifr = struct.pack("16sH22x", name.encode(), flags)
                try:
                    fcntl.ioctl(fd, TUNSETIFF, ifr)
                except OSError as err:
                    raise SystemCallError(f"Unable to create tap device {name}: "
                                          f"{err.strerror}") from err
        except BaseException:
            close_all(fds)
            raise
        return fds

    def open_vhost(self, queues: int) -> list[int]:
        fds: list[int] = []
        try:
            for _ in range(queues):
                fds.append(os.open(self.vhost_path, os.O_RDWR | os.O_CLOEXEC))
        except BaseException:
            close_all(fds)
            raise
        return fds

    def create_macvtap(self, name: str, lower: str, mode: str, mac: MacAddress) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        what = f"error creating macvtap interface {name}@{lower} ({mac})"

        def call(ipr: Any) -> None:
            found = ipr.link_lookup(ifname=lower)
            if not found:
                raise NetlinkCallError(what, errno.ENODEV)
            ipr.link("add", ifname=name, kind="macvtap", link=found[0], address=str(mac),
                     macvtap_mode=mode)

        try:
            self._with_ipr(call)
        except NetlinkError as err:
            raise NetlinkCallError(what, err.code) from err

    def open_macvtap(self, ifindex: int, vnet_hdr: bool, queues: int) -> list[int]:
        import time

        path = f"/dev/tap{ifindex}"
        fds: list[int] = []
        try:
            for _ in range(queues):
                for attempt in range(10):  # udev may not have made the node yet
                    try:
                        fds.append(os.open(path, os.O_RDWR | os.O_CLOEXEC))
                        break
                    except OSError as err:
                        if err.errno != errno.ENOENT or attempt == 9:
                            raise SystemCallError(f"cannot open macvtap tap device {path}: "
                                                  f"{err.strerror}") from err
                        time.sleep(0.02)
            for fd in fds:
                name, flags = struct.unpack("16sH22x", fcntl.ioctl(fd, TUNGETIFF, bytes(40)))
                wanted = flags & ~(IFF_VNET_HDR | IFF_MULTI_QUEUE) | \
                    (IFF_VNET_HDR if vnet_hdr else 0) | (IFF_MULTI_QUEUE if queues > 1 else 0)
                if wanted != flags:
                    try:
                        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name, wanted))
                    except OSError as err:
                        raise SystemCallError("unable to set vnet or multiqueue flags on "
                                              f"macvtap: {err.strerror}") from err
        except BaseException:
            close_all(fds)
            raise
        return fds

    def set_mac(self, name: str, mac: MacAddress) -> None:
        self._link(f"Cannot set interface MAC on '{name}'", name, "set", address=str(mac))

    def set_mtu(self, name: str, mtu: int) -> None:
        self._link(f"Cannot set interface MTU on '{name}'", name, "set", mtu=mtu)

    def add_to_bridge(self, bridge: str, name: str) -> None:
        what = f"Unable to add bridge {bridge} port {name}"
        index = self.ifindex(bridge)
        if index is None:
            raise NetlinkCallError(what, errno.ENODEV)
        self._link(what, name, "set", master=index)

    def set_up(self, name: str) -> None:
        self._link(f"Cannot set interface flags on '{name}'", name, "set", state="up")

    def delete(self, name: str) -> None:
        self._link(f"Unable to delete tap device {name}", name, "del")
