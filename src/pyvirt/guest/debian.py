"""Host-side Debian tooling for the demo guest: apt, dpkg and kmod, each run as an argv list.

Every function here runs host programs and nothing else; :mod:`pyvirt.guest.build` decides
what to do with the results. No shell is ever involved.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from pyvirt.errors import HostError, ProcessError

#: The Debian package that ships each host program we run.
TOOL_PACKAGES: dict[str, str] = {
    "apt-get": "apt",
    "apt-cache": "apt",
    "dpkg": "dpkg",
    "depmod": "kmod",
    "modprobe": "kmod",
    "cpio": "cpio",
}

#: The meta package whose dependency names the generic (not cloud) kernel flavour.
KERNEL_META_PACKAGE = "linux-image-amd64"
BUSYBOX_PACKAGE = "busybox-static"

_TAIL_CHARS = 2000


def find_tool(name: str) -> str:
    """Return the absolute path of host program ``name``.

    The sbin directories are searched too, since kmod's tools live there and a non-root
    ``PATH`` often lacks them.

    :raises HostError: the program is missing; the message names the package to install.
    """
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    path = shutil.which(name, path=search)
    if path is None:
        package = TOOL_PACKAGES.get(name, name)
        raise HostError(f"'{name}' was not found; install the Debian package '{package}'")
    return path


def run(argv: Sequence[str], *, cwd: Path | None = None, stdin: bytes | None = None) -> bytes:
    """Run ``argv`` (its first item is resolved with :func:`find_tool`) and return stdout.

    :raises HostError: the program is missing.
    :raises ProcessError: it exited non-zero; carries argv, the status and stderr's tail.
    """
    full = (find_tool(argv[0]), *argv[1:])
    try:
        done = subprocess.run(
            full, cwd=cwd, input=stdin, capture_output=True, check=False,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
    except OSError as exc:
        raise HostError(f"cannot run {argv[0]}: {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip()[-_TAIL_CHARS:]
        raise ProcessError(
            f"{' '.join(argv)} failed with status {done.returncode}: {tail}",
            argv=tuple(full), status=done.returncode, log_tail=tail,
        )
    return done.stdout


def apt_update() -> None:
    """Refresh the package lists (``apt-get update``; needs root).

    :raises HostError: apt-get is missing.
    :raises ProcessError: the update failed.
    """
    run(["apt-get", "update"])


def resolve_kernel_package() -> str | None:
    """Return the concrete kernel package :data:`KERNEL_META_PACKAGE` depends on.

    :returns: e.g. ``linux-image-6.1.0-56-amd64``, or None when apt knows no such package
        (its lists may be empty; the caller can update and ask again).
    :raises HostError: apt-cache is missing.
    """
    try:
        out = run(["apt-cache", "depends", KERNEL_META_PACKAGE]).decode()
    except ProcessError:
        return None
    for line in out.splitlines():
        kind, _, name = line.strip().lstrip("|").partition(":")
        name = name.strip()
        if kind == "Depends" and name.startswith("linux-image-") and "cloud" not in name:
            return name
    return None


def download(packages: Sequence[str], directory: Path) -> list[Path]:
    """Download the ``.deb`` files of ``packages`` into ``directory`` (``apt-get download``).

    :returns: the downloaded files, in the order of ``packages``.
    :raises HostError: apt-get is missing, or a package's file cannot be found afterwards.
    :raises ProcessError: the download failed.
    """
    run(["apt-get", "download", *packages], cwd=directory)
    debs: list[Path] = []
    for package in packages:
        found = sorted(directory.glob(f"{package}_*.deb"))
        if not found:
            raise HostError(f"apt-get download left no .deb for {package} in {directory}")
        debs.append(found[0])
    return debs


def extract(deb: Path, root: Path) -> None:
    """Unpack ``deb`` into ``root`` (``dpkg -x``, no maintainer scripts run).

    :raises HostError: dpkg is missing.
    :raises ProcessError: dpkg failed.
    """
    run(["dpkg", "-x", str(deb), str(root)])


def modules_base(root: Path) -> tuple[Path, str]:
    """Locate the single kernel module tree under an extracted ``root``.

    :returns: ``(base, kernel_version)`` such that ``base/lib/modules/kernel_version`` exists
        (``base`` is ``root`` or ``root/usr`` for a merged-/usr package).
    :raises HostError: there is no module tree, or more than one.
    """
    for base in (root, root / "usr"):
        modules = base / "lib" / "modules"
        versions = sorted(p.name for p in modules.iterdir()) if modules.is_dir() else []
        if len(versions) == 1:
            return base, versions[0]
        if versions:
            raise HostError(f"several kernel versions in {modules}: {', '.join(versions)}")
    raise HostError(f"no lib/modules tree under {root}")


def depmod(base: Path, kernel_version: str) -> None:
    """Generate ``modules.dep`` for the tree (Debian's package leaves that to postinst).

    :raises HostError: kmod is missing.
    :raises ProcessError: depmod failed.
    """
    run(["depmod", "-b", str(base), kernel_version])


def module_files(base: Path, kernel_version: str, modules: Sequence[str]) -> list[Path]:
    """Return the ``.ko`` files to insmod, dependencies first, for ``modules`` in order.

    Built-in modules need no file and are left out; each file appears once.

    :raises HostError: kmod is missing.
    :raises ProcessError: modprobe does not know one of ``modules``.
    """
    files: list[Path] = []
    for module in modules:
        out = run(["modprobe", "-d", str(base), "-S", kernel_version, "--show-depends", module])
        for line in out.decode().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "insmod":
                path = Path(words[1])
                if path not in files:
                    files.append(path)
    return files
