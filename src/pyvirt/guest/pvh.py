"""Unpack the ELF ``vmlinux`` from an xz-compressed bzImage for PVH direct boot.

Under TCG the guest spends about half of its boot-to-bonded CPU time decompressing the
bzImage (measured 3 s of 6 s). QEMU boots an uncompressed ELF kernel that carries the
PVH entry note directly (``-kernel vmlinux``), skipping that work.
"""

from __future__ import annotations

import lzma
import struct
from pathlib import Path

_XZ_MAGIC = b"\xfd7zXZ\x00"
_ELF64_LE = b"\x7fELF\x02\x01"
_PT_NOTE = 4
_XEN_ELFNOTE_PHYS32_ENTRY = 18


def unpack_vmlinux(bzimage: bytes) -> bytes | None:
    """Return the PVH-bootable ELF kernel inside ``bzimage``.

    :returns: the ELF image, or None if the payload is not xz, does not decompress to a
        64-bit little-endian ELF, or lacks the PVH entry note (then boot the bzImage).
    """
    start = bzimage.find(_XZ_MAGIC)
    if start < 0:
        return None
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:
        elf = decompressor.decompress(bzimage[start:])
    except lzma.LZMAError:
        return None
    if not decompressor.eof or not has_pvh_note(elf):
        return None
    return elf


def has_pvh_note(elf: bytes) -> bool:
    """True if ``elf`` is an ELF64 LE image with a ``Xen`` PHYS32_ENTRY note (PVH)."""
    if not elf.startswith(_ELF64_LE) or len(elf) < 64:
        return False
    phoff, = struct.unpack_from("<Q", elf, 32)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    for index in range(phnum):
        base = phoff + index * phentsize
        if base + 56 > len(elf):
            return False
        p_type, = struct.unpack_from("<I", elf, base)
        offset, = struct.unpack_from("<Q", elf, base + 8)
        size, = struct.unpack_from("<Q", elf, base + 32)
        if p_type == _PT_NOTE and _notes_have_pvh(elf[offset:offset + size]):
            return True
    return False


def _notes_have_pvh(notes: bytes) -> bool:
    """Walk one PT_NOTE segment (4-byte aligned name and descriptor)."""
    position = 0
    while position + 12 <= len(notes):
        namesz, descsz, note_type = struct.unpack_from("<III", notes, position)
        name = notes[position + 12:position + 12 + namesz].rstrip(b"\x00")
        if name == b"Xen" and note_type == _XEN_ELFNOTE_PHYS32_ENTRY:
            return True
        position += 12 + _align4(namesz) + _align4(descsz)
    return False


def _align4(value: int) -> int:
    return (value + 3) & ~3


def write_vmlinux(bzimage: Path, target: Path) -> bool:
    """Write the PVH ``vmlinux`` of ``bzimage`` to ``target`` if it has one.

    :returns: whether ``target`` was written.
    :raises OSError: ``bzimage`` cannot be read or ``target`` written.
    """
    elf = unpack_vmlinux(bzimage.read_bytes())
    if elf is None:
        return False
    target.write_bytes(elf)
    return True
