"""Build (once) and cache the small demo/test guest: a Debian kernel plus a busybox initramfs.

The guest negotiates virtio-net failover, bonds an e1000e primary and reports its state on
the serial console (see ``init.sh``). A finished build is marked by a stamp file written
last and atomically, so an interrupted build is simply redone; a later call with the same
``init.sh`` and module list returns at once without touching apt.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pyvirt.errors import HostError, ProcessError
from pyvirt.guest import debian, initramfs, pvh

#: Modules the guest needs, in load order (their dependencies are added before each one):
#: the power button first so that ``system_powerdown`` works as early as possible.
GUEST_MODULES = (
    "evdev", "button", "failover", "net_failover", "virtio_net", "virtio_pci", "e1000e",
)

KERNEL_FILE = "vmlinuz"
VMLINUX_FILE = "vmlinux"
INITRD_FILE = "initrd.gz"
STAMP_FILE = "guest.json"
_STAMP_FORMAT = 2

Log = Callable[[str], None]


@dataclass(frozen=True)
class GuestImage:
    """A built guest: boot it with ``-kernel boot_kernel -initrd initrd``.

    ``kernel`` is Debian's bzImage; ``vmlinux``, when the kernel supports PVH, is the same
    kernel uncompressed, which QEMU boots directly and about twice as fast under TCG.
    """

    directory: Path
    kernel: Path
    initrd: Path
    kernel_version: str
    vmlinux: Path | None = None

    @property
    def boot_kernel(self) -> Path:
        """The fastest kernel file to pass to ``-kernel``: ``vmlinux`` if any, else ``kernel``."""
        return self.vmlinux if self.vmlinux is not None else self.kernel


def default_cache_dir() -> Path:
    """``$PYVIRT_GUEST_DIR``, else ``$XDG_CACHE_HOME/pyvirt/guest``, else ``~/.cache/...``."""
    explicit = os.environ.get("PYVIRT_GUEST_DIR")
    if explicit:
        return Path(explicit)
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "pyvirt" / "guest"


def build_guest(
    cache_dir: Path | None = None, *, force: bool = False, log: Log | None = None
) -> GuestImage:
    """Return the cached guest in ``cache_dir``, building it first when needed.

    A build downloads the kernel that ``linux-image-amd64`` depends on and
    ``busybox-static`` with ``apt-get download`` (running ``apt-get update`` once if apt
    does not know them), so it needs the Debian mirrors; a cached guest needs nothing.
    Concurrent callers are serialised with a lock file in ``cache_dir``.

    :param cache_dir: where the guest lives; default :func:`default_cache_dir`.
    :param force: rebuild even if a complete guest is cached.
    :param log: receives one line per build step.
    :raises HostError: a host tool is missing (the message names the Debian package to
        install), apt cannot resolve the packages, or the cache cannot be written.
    :raises ProcessError: a host tool failed; carries its argv, status and stderr tail.
    """
    say: Log = log if log is not None else (lambda _message: None)
    directory = (cache_dir if cache_dir is not None else default_cache_dir()).absolute()
    wanted = _fingerprint()
    if not force and (cached := _read_stamp(directory, wanted)) is not None:
        return cached
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HostError(f"cannot create the guest cache {directory}: {exc}") from exc
    with _locked(directory):
        if not force and (cached := _read_stamp(directory, wanted)) is not None:
            return cached
        try:
            return _build(directory, wanted, say)
        except OSError as exc:  # temp space, permissions: a host problem, not a bug
            raise HostError(f"building the guest in {directory} failed: {exc}") from exc


def _fingerprint() -> str:
    """Identify what a build produces from this source: init.sh and the module list."""
    digest = hashlib.sha256(initramfs.init_script())
    digest.update(" ".join(GUEST_MODULES).encode())
    return digest.hexdigest()


def _read_stamp(directory: Path, fingerprint: str) -> GuestImage | None:
    """Return the guest the stamp describes, or None if it is absent, stale or broken."""
    try:
        stamp = json.loads((directory / STAMP_FILE).read_text())
        if stamp["format"] != _STAMP_FORMAT or stamp["fingerprint"] != fingerprint:
            return None
        image = GuestImage(
            directory=directory, kernel=directory / KERNEL_FILE,
            initrd=directory / INITRD_FILE, kernel_version=str(stamp["kernel_version"]),
            vmlinux=directory / VMLINUX_FILE if stamp["vmlinux"] else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    files = (image.kernel, image.initrd, *([image.vmlinux] if image.vmlinux else []))
    return image if all(path.is_file() for path in files) else None


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory/.lock`` for the block."""
    try:
        handle = (directory / ".lock").open("a")
    except OSError as exc:
        raise HostError(f"cannot lock the guest cache {directory}: {exc}") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _build(directory: Path, fingerprint: str, say: Log) -> GuestImage:
    """Build the guest into ``directory`` (caller holds the lock)."""
    for tool in ("apt-get", "apt-cache", "dpkg", "depmod", "modprobe", "cpio"):
        debian.find_tool(tool)
    (directory / STAMP_FILE).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="pyvirt-guest-") as temp:
        work = Path(temp)
        kernel_package = _resolve_kernel_package(say)
        say(f"downloading {kernel_package} and {debian.BUSYBOX_PACKAGE}")
        debs = _download([kernel_package, debian.BUSYBOX_PACKAGE], work, say)
        root = work / "root"
        for deb in debs:
            say(f"extracting {deb.name}")
            debian.extract(deb, root)
        base, kernel_version = debian.modules_base(root)
        say(f"resolving module dependencies for kernel {kernel_version}")
        debian.depmod(base, kernel_version)
        modules = debian.module_files(base, kernel_version, GUEST_MODULES)
        tree = work / "initramfs"
        names = initramfs.stage(tree, _find_file(root, "bin/busybox"), modules)
        say(f"packing the initramfs: {' '.join(names)}")
        initramfs.pack(tree, work / INITRD_FILE)
        vmlinuz = _find_file(root, f"boot/vmlinuz-{kernel_version}")
        say("unpacking vmlinux for PVH boot")
        vmlinux = _unpack_vmlinux(vmlinuz, work / VMLINUX_FILE)
        _install(vmlinuz, directory / KERNEL_FILE)
        _install(work / INITRD_FILE, directory / INITRD_FILE)
        if vmlinux:
            _install(work / VMLINUX_FILE, directory / VMLINUX_FILE)
    stamp = {
        "format": _STAMP_FORMAT, "fingerprint": fingerprint, "kernel_package": kernel_package,
        "kernel_version": kernel_version, "modules": names, "vmlinux": vmlinux,
    }
    _write_atomically(directory / STAMP_FILE, json.dumps(stamp, indent=2).encode() + b"\n")
    say(f"guest ready in {directory}")
    image = _read_stamp(directory, fingerprint)
    if image is None:
        raise HostError(f"the guest in {directory} vanished right after its build")
    return image


def _resolve_kernel_package(say: Log) -> str:
    """Resolve the concrete generic kernel package, updating apt's lists once if needed."""
    package = debian.resolve_kernel_package()
    if package is None:
        say("apt does not know the kernel package; running apt-get update")
        debian.apt_update()
        package = debian.resolve_kernel_package()
    if package is None:
        raise HostError(
            f"apt cannot resolve {debian.KERNEL_META_PACKAGE}; check /etc/apt/sources.list"
        )
    return package


def _download(packages: list[str], work: Path, say: Log) -> list[Path]:
    """Download ``packages``; stale lists (a 404) get one ``apt-get update`` and a retry."""
    downloads = work / "debs"
    downloads.mkdir()
    try:
        return debian.download(packages, downloads)
    except ProcessError:
        say("apt-get download failed; running apt-get update and retrying")
        debian.apt_update()
        return debian.download(packages, downloads)


def _find_file(root: Path, relative: str) -> Path:
    """Return ``root/relative`` or ``root/usr/relative`` (merged /usr), whichever exists.

    :raises HostError: neither exists.
    """
    for candidate in (root / relative, root / "usr" / relative):
        if candidate.is_file():
            return candidate
    raise HostError(f"{relative} is missing from the extracted packages")


def _unpack_vmlinux(bzimage: Path, target: Path) -> bool:
    """Write the PVH ELF kernel of ``bzimage`` to ``target``; False if it has none.

    :raises HostError: a file cannot be read or written.
    """
    try:
        return pvh.write_vmlinux(bzimage, target)
    except OSError as exc:
        raise HostError(f"cannot unpack {bzimage}: {exc}") from exc


def _install(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` through a temporary file and a rename.

    :raises HostError: a file cannot be read or written.
    """
    def copy(out: BinaryIO) -> None:
        with source.open("rb") as data:
            shutil.copyfileobj(data, out, 1 << 20)

    _write_atomically(target, copy)


def _write_atomically(target: Path, write: bytes | Callable[[BinaryIO], None]) -> None:
    """Write ``target`` (bytes, or a function filling the file) so that readers see the old
    or the new file, never a mix.

    :raises HostError: the file cannot be written.
    """
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    except OSError as exc:
        raise HostError(f"cannot write {target}: {exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(write, bytes):
                handle.write(write)
            else:
                write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise HostError(f"cannot write {target}: {exc}") from exc


__all__ = ["GUEST_MODULES", "GuestImage", "build_guest", "default_cache_dir"]
