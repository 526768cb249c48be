"""Lay out and pack the demo guest's initramfs (cpio newc, gzip)."""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from pyvirt.errors import HostError
from pyvirt.guest.debian import run

#: Directories /init expects to exist (it mounts proc, sys and devtmpfs itself).
_DIRECTORIES = ("bin", "dev", "etc", "lib/modules", "proc", "run", "sys", "tmp")


def init_script() -> bytes:
    """Return the guest's ``/init`` (the packaged ``init.sh``)."""
    return resources.files("pyvirt.guest").joinpath("init.sh").read_bytes()


def module_name(path: Path) -> str:
    """Return the kernel's name for a module file: ``virtio-pci.ko.xz`` -> ``virtio_pci``."""
    return path.name.split(".", 1)[0].replace("-", "_")


def _copy_module(source: Path, target: Path) -> None:
    """Copy one module, decompressing ``.xz``/``.gz`` (busybox insmod takes plain .ko).

    :raises HostError: the module uses a compression we cannot undo.
    """
    suffix = source.name.rsplit(".ko", 1)[-1]
    if suffix == "":
        shutil.copyfile(source, target)
    elif suffix == ".xz":
        target.write_bytes(lzma.decompress(source.read_bytes()))
    elif suffix == ".gz":
        target.write_bytes(gzip.decompress(source.read_bytes()))
    else:
        raise HostError(f"unsupported kernel module compression: {source.name}")


def stage(tree: Path, busybox: Path, modules: Sequence[Path]) -> list[str]:
    """Fill the empty directory ``tree`` with the initramfs content.

    ``/init``, ``/bin/busybox`` (plus ``/bin/sh``), ``/lib/modules/<name>.ko`` and
    ``/lib/modules/insmod.order`` (module names, one a line, in load order).

    :returns: the module names in load order.
    :raises HostError: a module file cannot be used.
    """
    for directory in _DIRECTORIES:
        (tree / directory).mkdir(parents=True, exist_ok=True)
    init = tree / "init"
    init.write_bytes(init_script())
    init.chmod(0o755)
    shutil.copyfile(busybox, tree / "bin" / "busybox")
    (tree / "bin" / "busybox").chmod(0o755)
    (tree / "bin" / "sh").symlink_to("busybox")
    names: list[str] = []
    for source in modules:
        name = module_name(source)
        _copy_module(source, tree / "lib" / "modules" / f"{name}.ko")
        names.append(name)
    (tree / "lib" / "modules" / "insmod.order").write_text("".join(f"{n}\n" for n in names))
    return names


def pack(tree: Path, output: Path) -> None:
    """Write ``tree`` as a gzip-compressed newc cpio archive to ``output``.

    Entries are sorted and owned by root, and the gzip header carries no time stamp.

    :raises HostError: cpio is missing.
    :raises ProcessError: cpio failed.
    """
    entries: list[str] = []
    for directory, subdirs, files in os.walk(tree):
        subdirs.sort()
        relative = Path(directory).relative_to(tree)
        if relative != Path("."):
            entries.append(str(relative))
        entries.extend(str(relative / name) for name in sorted(files))
    listing = "".join(f"{entry}\n" for entry in entries).encode()
    archive = run(
        ["cpio", "--create", "--format=newc", "--owner=0:0", "--reproducible", "--quiet"],
        cwd=tree, stdin=listing,
    )
    with output.open("wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0
    ) as packed:
        packed.write(archive)
