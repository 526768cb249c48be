"""Seed documents and mutations for the domain-XML fuzzer.

Seeds are valid (and a few invalid) domain documents: the golden inputs, the libvirt
conformance inputs, the demo guest and the every-element kitchen sink. A case is a seed
with a few tree mutations (drop, duplicate, reorder, move, rename elements; random
attribute values and texts: huge numbers, unicode, JSON and QEMU option metacharacters)
and sometimes a byte-level one (control characters, invalid UTF-8, character references
XML forbids, truncation).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

from hypothesis import strategies as st
from lxml import etree

DATA = Path(__file__).resolve().parent.parent / "data"

# Values that have broken parsers before: numbers at and past every integer width, numbers
# Python's int() accepts but libvirt does not (fullwidth and Arabic-Indic digits, "1_0"),
# option and JSON metacharacters, path tricks, odd unicode.
INTERESTING = (
    "", " ", "0", "-0", "1", "-1", "+1", "0x", "0x0", "0xffff", "0x1f", "0xG", "007", "08",
    "255", "256", "65535", "65536", "2147483647", "2147483648", "4294967295", "4294967296",
    "18446744073709551615", "18446744073709551616", "-9223372036854775809", "9" * 40,
    "9" * 5000, "1e3", "1e309", "1.5", "NaN", "inf", "-inf", "1_0", "１２３", "٣", "²",
    "on", "off", "yes", "no", "true", "none", "default", "virtio", "e1000e", "igb", "user",
    "hostdev", "bridge", "network", "ethernet", "transient", "persistent", "pci", "drive",
    "q35", "pc", "pc-q35-7.2", "kvm", "qemu", "hvm", "x86_64", "ua-net0", "ua-net0-primary",
    "net0", "pci.0", "pcie.0", "52:54:00:00:00:01", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01",
    "00:00:00:00:00:00", "52:54:00:00:00:0g", "52-54-00-00-00-01",
    "a,b", "a,,b", "a=b", "a,id=evil", "a,b=c,d", ",", "=", "'", '"', "\\", "a'b\"c",
    '"},{"driver":"evil"', '{"a":1}', "[", "]", "}", "{", "a\nb", "\r", "\t", "a b",
    "-S", "-device", "--help", "$(reboot)", "`id`", "%s%n%x", "../../../etc/passwd",
    "/dev/zero", "/proc/self/mem", "/", "//", "/tmp/a,b", "/tmp/x=y", "file:///etc/passwd",
    "\u202eevil", "\u00e9", "\U0001f600", "\ufeff", "\u2028", "\uffff"[:0] + "\ufffd",
    "a" * 300, "é" * 1000,
)
EMULATORS = ("/usr/bin/qemu-system-x86_64", "/nonexistent/qemu", "", "qemu-system-x86_64",
             "/", "/usr/bin", "/bin/false", "/usr/bin/qemu-system-x86_64,x")
ATTRIBUTES = (
    "type", "model", "name", "address", "index", "domain", "bus", "slot", "function",
    "multifunction", "persistent", "port", "chassis", "mode", "path", "dev", "bridge",
    "network", "unit", "machine", "arch", "id", "order", "size", "unit", "managed", "file",
    "bar", "enabled", "queues", "period", "bytes", "listen", "autoport", "append", "state",
    "target", "controller", "device", "cache", "fallback", "heads", "primary", "offset",
)
TAGS = (
    "interface", "teaming", "alias", "mac", "model", "source", "address", "controller",
    "hostdev", "disk", "target", "driver", "serial", "console", "emulator", "boot", "rom",
    "memory", "currentMemory", "vcpu", "name", "uuid", "os", "type", "features", "acpi",
    "devices", "metadata", "memballoon", "rng", "input", "graphics", "video", "audio",
)
CONTROL = tuple(bytes([b]) for b in (*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F))
BAD_BYTES = (*CONTROL, b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"&#0;",
             b"&#1;", b"&#xFFFE;", b"&#xD800;", b"&#x110000;", b"&undefined;", b"]]>",
             b"<", b"&", b"<!--", b"<![CDATA[", b"<?x", b"<!DOCTYPE d>", b"\x00\x00")


def _is_source(path: Path) -> bool:
    return not path.name.endswith((".formatted.xml", ".err", ".args"))


def _seed_paths() -> tuple[list[Path], list[Path]]:
    """(inputs with a golden result that converts or formats, inputs with an error file)"""
    paths = sorted(p for d in ("xmlconf", "conformance")
                   for p in (DATA / d).glob("*.xml") if _is_source(p))
    refused = [p for p in paths if p.with_suffix(".err").exists()]
    return [p for p in paths if p not in refused], refused


def seed_documents() -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """(valid seeds, seeds pyvirt refuses), as bytes."""
    from pyvirt.guest.build import GuestImage
    from pyvirt.guest.xml import demo_domain_xml
    from tests.unit.test_document import KITCHEN_SINK

    accepted, refused = _seed_paths()
    guest = Path("/nonexistent/guest")
    image = GuestImage(guest, guest / "vmlinuz", guest / "initrd.gz", "6.1")
    demo = demo_domain_xml("fuzz", image, Path("/tmp/fuzz.serial"), domain_type="qemu")
    return ((*(p.read_bytes() for p in accepted), demo.encode()),
            (*(p.read_bytes() for p in refused), KITCHEN_SINK.encode()))


VALID_SEEDS, REFUSED_SEEDS = seed_documents()
SEEDS = VALID_SEEDS + REFUSED_SEEDS


def _plausible_values() -> dict[str, tuple[str, ...]]:
    """Every value each attribute (``@name``) and element text (``tag``) has in a seed:
    swapping them around makes documents that are valid in new ways."""
    seen: dict[str, set[str]] = {}
    for seed in SEEDS:
        for el in etree.fromstring(seed).iter():
            if not isinstance(el.tag, str):
                continue
            for key, value in el.attrib.items():
                seen.setdefault(f"@{key!s}", set()).add(str(value))
            if (el.text or "").strip() and not len(el):
                seen.setdefault(str(el.tag), set()).add(str(el.text))
    return {key: tuple(sorted(found)) for key, found in seen.items()}


PLAUSIBLE = _plausible_values()

values = st.one_of(
    st.sampled_from(INTERESTING),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70).map(str),
    st.integers(min_value=0, max_value=2 ** 40).map(hex),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=24),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24),
)


def _value_for(key: str) -> st.SearchStrategy[str]:
    """Half the time a value the same attribute or element has somewhere in the seeds."""
    known = PLAUSIBLE.get(key)
    return st.one_of(st.sampled_from(known), values) if known else values


def _elements(root: etree._Element) -> list[etree._Element]:
    return [el for el in root.iter() if isinstance(el.tag, str)]


def _set_text(el: etree._Element, value: str) -> None:
    try:
        el.text = value
    except ValueError:  # lxml refuses what XML cannot carry; the byte stage does that
        el.text = value.encode("ascii", "replace").decode()


def _set_attr(el: etree._Element, name: str, value: str) -> None:
    try:
        el.set(name, value)
    except ValueError:
        el.set(name, value.encode("ascii", "replace").decode())


# Value changes keep the document inside the schema (which leaves values to the parsers),
# so most cases reach validation, defaults and the command builder; structural changes
# exercise the schema and the explanations.
_OPS = (("set-attr",) * 6 + ("set-text",) * 4 + ("drop",) * 2 + ("duplicate",) * 2
        + ("reorder",) * 2 + ("drop-attr",) * 2 + ("emulator", "move", "rename", "new-attr"))


def _any_element(_el: etree._Element) -> bool:
    return True


_ELIGIBLE: dict[str, Callable[[etree._Element], bool]] = {
    "set-attr": lambda e: bool(e.attrib),
    "drop-attr": lambda e: bool(e.attrib),
    "set-text": lambda e: bool((e.text or "").strip()) and not len(e),
    "drop": lambda e: e.getparent() is not None,
    "duplicate": lambda e: e.getparent() is not None,
    "move": lambda e: e.getparent() is not None,
    "reorder": lambda e: len(e) > 1,
}


@st.composite
def tree_mutation(draw: st.DrawFn, root: etree._Element) -> None:
    """Apply one random change to the tree *root* (in place)."""
    op = draw(st.sampled_from(_OPS))
    if op == "emulator":
        for emulator in root.iter("emulator"):
            _set_text(emulator, draw(st.sampled_from(EMULATORS)))
        return
    eligible = _ELIGIBLE.get(op, _any_element)
    elements = [e for e in _elements(root) if eligible(e)]
    if not elements:
        return
    el = draw(st.sampled_from(elements))
    parent = el.getparent()
    if op == "drop" and parent is not None:
        parent.remove(el)
    elif op == "duplicate":
        el.addnext(copy.deepcopy(el))
    elif op == "reorder":
        children = list(el)
        order = draw(st.permutations(range(len(children))))
        for child in children:
            el.remove(child)
        for index in order:
            el.append(children[index])
    elif op == "move" and parent is not None:
        target = draw(st.sampled_from(_elements(root)))
        if target is not el and el not in target.iterancestors():
            parent.remove(el)
            target.append(el)
    elif op == "rename":
        el.tag = draw(st.sampled_from(TAGS))
    elif op == "set-attr":
        name = draw(st.sampled_from(sorted(str(k) for k in el.attrib)))
        _set_attr(el, name, draw(_value_for(f"@{name}")))
    elif op == "new-attr":
        _set_attr(el, draw(st.sampled_from(ATTRIBUTES)), draw(values))
    elif op == "drop-attr":
        del el.attrib[draw(st.sampled_from(sorted(str(k) for k in el.attrib)))]
    elif op == "set-text":
        _set_text(el, draw(_value_for(str(el.tag))))


@st.composite
def byte_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """Insert a byte sequence XML forbids or truncate the document."""
    position = draw(st.integers(min_value=0, max_value=len(data)))
    if draw(st.integers(min_value=0, max_value=3)):
        return data[:position] + draw(st.sampled_from(BAD_BYTES)) + data[position:]
    return data[:position]


@st.composite
def mutated_documents(draw: st.DrawFn) -> bytes:
    """A seed (valid three times in four) with 1 to 3 tree mutations and, one time in
    eight, a byte-level one."""
    pool = VALID_SEEDS if draw(st.integers(min_value=0, max_value=3)) else REFUSED_SEEDS
    root = etree.fromstring(draw(st.sampled_from(pool)))
    for _ in range(draw(st.sampled_from((1, 1, 1, 2, 2, 3)))):
        draw(tree_mutation(root))
    data: bytes = etree.tostring(root)
    if draw(st.integers(min_value=0, max_value=7)) == 0:
        data = draw(byte_mutation(data))
    return data
