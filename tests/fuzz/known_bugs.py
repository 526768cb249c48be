"""Bugs the fuzzer found, each with a reproducer.

``KNOWN_BUGS`` holds open ones: the fuzzer tolerates exactly their signature (and nothing
else), and ``test_known_bugs_still_reproduce`` fails as soon as a fix lands. Fixed ones
move to ``FIXED_BUGS``, whose reproducers must stay harmless (regression tests).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from pyvirt.domain.io import domain_from_xml, domain_to_xml
from pyvirt.service.context import Context
from pyvirt.service.convert import native_command, validate_file
from pyvirt.service.domains import DomainService


def _never(_x: object) -> bool:
    return False


@dataclass(frozen=True)
class KnownBug:
    ident: str
    summary: str
    reproducer: str  # a domain XML that shows it
    reproduces: Callable[[Path], bool]  # True while the bug is there (given a temp dir)
    matches_exception: Callable[[BaseException], bool] = _never
    matches_document: Callable[[bytes], bool] = _never


def _tree(data: bytes) -> etree._Element | None:
    try:
        return etree.fromstring(data)
    except etree.LxmlError:
        return None


def _metadata_has_text(data: bytes) -> bool:
    root = _tree(data)
    for meta in root.iter("metadata") if root is not None else ():
        if any(t.strip() for t in [meta.text or "", *(c.tail or "" for c in meta)]):
            return True
    return False


def _chardev_source_without_path(data: bytes) -> bool:
    root = _tree(data)
    return root is not None and any(
        dev.get("type") in ("file", "unix") and src.get("path") is None
        for tag in ("serial", "console") for dev in root.iter(tag)
        for src in dev.findall("source"))


def _has_inner_line_break(data: bytes) -> bool:
    root = _tree(data)
    if root is None:
        return b"&#10;" in data or b"&#13;" in data
    for el in root.iter():
        values = [*(str(v) for v in el.attrib.values()), el.text or ""]
        if any(("\n" in v.strip() or "\r" in v.strip()) for v in values):
            return True
    return False


def _raises_in_pipeline(xml: str, tmp: Path, check: Callable[[BaseException], bool]) -> bool:
    path = tmp / "bug.xml"
    path.write_text(xml)
    ctx = Context.open(f"qemu:///embed?root={tmp / 'root'}")
    try:
        native_command(ctx, validate_file(ctx, path))
    except Exception as err:
        return check(err)
    return False


def _define_loses_data(xml: str, tmp: Path) -> bool:
    path = tmp / "bug.xml"
    path.write_text(xml)
    try:
        stored = DomainService(Context.open(f"qemu:///embed?root={tmp / 'root'}")).define_file(path)
    except Exception:
        return False
    return domain_from_xml(domain_to_xml(stored)) != stored


def _redefine_changes_it(xml: str, tmp: Path) -> bool:
    """Defining the stored XML again gives other text (the fuzzer's idempotency check)."""
    svc = DomainService(Context.open(f"qemu:///embed?root={tmp / 'root'}"))
    path = tmp / "bug.xml"
    path.write_text(xml)
    try:
        stored = domain_to_xml(svc.define_file(path))
        return domain_to_xml(svc.define_xml(stored)) != stored
    except Exception:
        return False


def _cli_error_is_multiline(xml: str, tmp: Path) -> bool:
    path = tmp / "bug.xml"
    path.write_text(xml)
    proc = subprocess.run([sys.executable, "-m", "pyvirt.cli", "-c",
                           f"qemu:///embed?root={tmp / 'root'}", "validate", str(path)],
                          capture_output=True, text=True)
    return proc.returncode == 1 and proc.stderr.count("\n") > 1


def _bad_disk_name(err: BaseException) -> bool:
    return isinstance(err, ValueError) and str(err).startswith("invalid disk target name")


def _os_error(err: BaseException) -> bool:
    return isinstance(err, OSError)


def _non_ascii_digit(err: BaseException) -> bool:
    return isinstance(err, ValueError) and "invalid literal for int() with base 10" in str(err)


B3_XML = ("<domain type='qemu'><name>b3</name><memory>65536</memory><devices>"
          "<disk type='file' device='disk'><source file='/x.img'/>"
          "<target dev='hostdev' bus='virtio'/></disk></devices></domain>")
B5_XML = ("<domain type='qemu'><name>b5</name><memory>65536</memory>"
          "<metadata>keep me<a>x</a> and me</metadata></domain>")
B6_XML = "<domain type='a&#10;error: forged'><name>b6</name><memory>65536</memory></domain>"
B8_XML = ("<domain type='qemu'><name>b8</name><memory>65536</memory><devices><serial "
          "type='file'><source append='on'/><target port='0'/></serial></devices></domain>")
B9_XML = "<domain type='qemu'><name>b9</name><memory>²</memory></domain>"
B16_XML = ("<domain type='qemu'><name>b16</name><memory>65536</memory><os><type "
           "arch='x86_64' machine='q35'>hvm</type></os><devices><emulator>" + "a" * 300 +
           "</emulator></devices></domain>")
B13_XML = ("<domain type='qemu'><name>b13</name><memory>65536</memory><metadata>\n"
           "    <a:x xmlns:a='urn:x'>\n      <a:y/>\n    </a:x>\n  </metadata>"
           "<os><type arch='x86_64' machine='q35'>hvm</type></os></domain>")

FIXED_BUGS = (
    KnownBug("B3", "a disk whose <target dev> is not a disk name (' ', 'hostdev') passes "
             "validate and define; domxml-to-native and start then fail with 'internal "
             "error: ValueError: invalid disk target name' (qemu/aliases.py disk_index). "
             "libvirt refuses it at define: \"Unknown disk name 'hostdev' and no address "
             "specified\"", B3_XML,
             lambda tmp: _raises_in_pipeline(B3_XML, tmp, _bad_disk_name),
             matches_exception=_bad_disk_name),
    KnownBug("B5", "text directly inside <metadata> is accepted, then silently dropped by "
             "define (domain/xml/writer.py keeps only child elements)", B5_XML,
             lambda tmp: _define_loses_data(B5_XML, tmp),
             matches_document=_metadata_has_text),
    KnownBug("B6", "an error message quoting a value with a line break is several lines on "
             "the CLI (a value can forge an extra 'error:' line)", B6_XML,
             lambda tmp: _cli_error_is_multiline(B6_XML, tmp),
             matches_document=_has_inner_line_break),
    KnownBug("B8", "a file/unix <serial> whose <source> has no path passes validate and "
             "define (libvirt: 'Missing source path attribute for char device'); define "
             "stores it without <source> and start fails in the command builder", B8_XML,
             lambda tmp: _define_loses_data(B8_XML, tmp),
             matches_document=_chardev_source_without_path),
    KnownBug("B9", "<memory>²</memory> (any Unicode digit str.isdigit() accepts but int() "
             "does not) gives 'internal error: ValueError: invalid literal for int()' "
             "(types.py size_to_kib); '１２３' and '٣' are even accepted as numbers",
             B9_XML, lambda tmp: _raises_in_pipeline(B9_XML, tmp, _non_ascii_digit),
             matches_exception=_non_ascii_digit),
    KnownBug("B13", "nested elements in <metadata> gain one indentation level each time "
             "the stored XML is defined again (domain/xml/writer.py kept the layout "
             "whitespace of the foreign content and indented it once more)", B13_XML,
             lambda tmp: _redefine_changes_it(B13_XML, tmp)),
    KnownBug("B16", "an <emulator> path too long for a file name gives 'internal error: "
             "OSError: [Errno 36] File name too long' (service/context.py caps_for) "
             "instead of libvirt's 'Cannot check QEMU binary ...'", B16_XML,
             lambda tmp: _raises_in_pipeline(B16_XML, tmp, _os_error),
             matches_exception=_os_error),
)


KNOWN_BUGS: tuple[KnownBug, ...] = ()


def known_exception(err: BaseException) -> KnownBug | None:
    return next((bug for bug in KNOWN_BUGS if bug.matches_exception(err)), None)


def known_document(data: bytes) -> KnownBug | None:
    return next((bug for bug in KNOWN_BUGS if bug.matches_document(data)), None)


def still_reproduces(bug: KnownBug) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        return bug.reproduces(Path(tmp))

