"""Hardened loading of libvirt-style XML and validation against pyvirt's RelaxNG schemas.

:func:`load_xml` is the one door through which untrusted text becomes an lxml tree. The
parser never resolves entities, loads a DTD or touches the network; a DOCTYPE is refused
outright; size and nesting are bounded. The tree is then judged by lxml's RelaxNG against
``domain/schema/<schema>.rng``, and a failure explained in one line
(:mod:`pyvirt.domain.xml.grammar`).

Comments and processing instructions are dropped, except inside ``<metadata>``, which
is kept verbatim.
"""

from __future__ import annotations

import copy
import errno
import itertools
import os
import re
import sys
from pathlib import Path
from typing import BinaryIO, cast

from lxml import etree

from pyvirt.domain.xml.grammar import DEFAULT_WORDING, Wording, element_name, grammar, position
from pyvirt.errors import SchemaError, SystemCallError, XmlSyntaxError

MAX_XML_BYTES = 10 * 1024 * 1024
"""Largest document accepted (virsh's VSH_MAX_XML_FILE)."""

MAX_XML_NODES = 10_000
"""Most nodes (elements, comments, PIs) outside ``<metadata>``; libxml2's RelaxNG is
quadratic in the number of siblings, so this bounds validation time (about 0.2 s)."""

_LXML_POSITION = re.compile(r",? line \d+, column \d+\s*$")
_HUGE_HINT = re.compile(r",? (?:try|use) XML_PARSE_HUGE(?: option)?")
_SPACE = re.compile(rb"\s+")
_BLANK = re.compile(rb"\s*")
_Element = etree._Element


def _doctype_line(raw: bytes) -> int:
    """Line of a DOCTYPE in the prolog (the only place XML allows one), else 0.

    Markup is ASCII, so dropping NUL bytes and byte-order marks reads UTF-16 and UTF-32
    prologs too; a miss only leaves the check to the backstop after parsing.
    """
    text = raw.replace(b"\x00", b"").lstrip(b"\xef\xbb\xbf\xfe\xff")
    pos = 0
    while pos < len(text):
        blank = _BLANK.match(text, pos)
        pos = blank.end() if blank else pos
        if text.startswith(b"<!--", pos):
            closer = b"-->"
        elif text.startswith(b"<?", pos):
            closer = b"?>"
        else:
            break
        end = text.find(closer, pos + 2)
        pos = len(text) if end < 0 else end + len(closer)
    return text.count(b"\n", 0, pos) + 1 if text.startswith(b"<!DOCTYPE", pos) else 0


def _parse(raw: bytes, *, utf8: bool, source: str) -> _Element:
    """Parse with every libxml2 feature that reaches beyond the given bytes switched off."""
    parser = etree.XMLParser(
        encoding="utf-8" if utf8 else None,  # str input: ignore its encoding declaration
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,  # keeps libxml2's depth (256) and text-size limits
    )
    try:
        root: _Element = etree.fromstring(raw, parser, base_url=source or "<string>")
    except etree.XMLSyntaxError as err:
        message = _HUGE_HINT.sub("", _LXML_POSITION.sub("", str(err.msg)))  # not an option here
        where = f" (line {err.lineno})" if err.lineno else ""
        raise XmlSyntaxError(" ".join(message.split()) + where) from err
    except (ValueError, etree.LxmlError) as err:
        raise XmlSyntaxError(" ".join(str(err).split())) from err
    return root


def load_xml(data: bytes | str, *, schema: str = "domain", source: str = "",
             wording: Wording = DEFAULT_WORDING) -> _Element:
    """Parse untrusted XML with a hardened parser and validate it against ``schema``.

    :param data: the document; bytes honour the XML declaration, str is taken as text.
    :param schema: ``"domain"``, ``"device"`` (a single hot-plug device) or ``"network"``.
    :param source: where the document came from; used as lxml's base URL only (messages
        stay path-free so that golden error files are stable).
    :param wording: how a schema failure names an attribute or element it does not have.
    :returns: the root element, with comments and PIs removed outside ``<metadata>``.
    :raises XmlSyntaxError: too large, empty, not well-formed, too deep, has a DOCTYPE, or
        too many nodes.
    :raises SchemaError: wrong root element or anything outside the schema.
    :raises InternalError: ``schema`` names no schema.
    """
    root = parse_xml(data, source=source)
    outside = itertools.chain.from_iterable(n.iter() for n in root if n.tag != "metadata")
    if next(itertools.islice(outside, MAX_XML_NODES, None), None) is not None:
        raise XmlSyntaxError(f"document has more than {MAX_XML_NODES} nodes outside <metadata>")
    if schema == "domain":
        from pyvirt.domain.xml.unknown import drop_unknown_elements
        drop_unknown_elements(root)
    _validate(root, schema, wording)
    _drop_comments(root)
    return root


def parse_xml(data: bytes | str, *, source: str = "") -> _Element:
    """The hardened parse of :func:`load_xml` alone: no node limit, no schema, comments
    and PIs kept. For readers of a few elements that must not pay for the rest.

    :raises XmlSyntaxError: too large, empty, not well-formed, too deep, or has a DOCTYPE.
    """
    if len(data) > MAX_XML_BYTES:
        raise XmlSyntaxError(f"document is too large: more than {MAX_XML_BYTES} bytes")
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    except UnicodeEncodeError as err:
        raise XmlSyntaxError(f"document is not valid Unicode: {err.reason}") from err
    if len(raw) > MAX_XML_BYTES:
        raise XmlSyntaxError(f"document is too large: more than {MAX_XML_BYTES} bytes")
    if _SPACE.fullmatch(raw) or not raw:
        raise XmlSyntaxError("Document is empty")
    line = _doctype_line(raw)
    if line:
        raise XmlSyntaxError(f"DOCTYPE is not allowed (line {line})")
    root = _parse(raw, utf8=isinstance(data, str), source=source)
    if getattr(root.getroottree().docinfo, "doctype", ""):  # backstop for the prolog scan
        raise XmlSyntaxError("DOCTYPE is not allowed")
    return root


def _validate(root: _Element, schema: str, wording: Wording) -> None:
    rules = grammar(schema)
    rule = rules.roots.get(root.tag)
    if rule is None:
        expected = ", ".join(f"<{n}>" for n in rules.roots)
        expected = expected if len(rules.roots) == 1 else f"one of {expected}"
        found = f"<{element_name(root)}>{position(root)}"
        raise SchemaError(f"expected {expected}, found {found}")
    if rules.relaxng.validate(_without_metadata(root)):
        return
    problem = rules.explain(root, rule, wording)
    if problem is None:  # a rule the explainer does not model: fall back on lxml's log
        entry = next((e for e in rules.relaxng.error_log if e.line > 0), None)
        problem = " ".join(entry.message.split()) + f" (line {entry.line})" if entry else "invalid"
    raise SchemaError(problem)


def _without_metadata(root: _Element) -> _Element:
    """*root* as the validator should see it: every ``<metadata>`` empty.

    <metadata> may hold anything, and libxml2 needs minutes for some such content (many
    attributes, many siblings), so the validator gets a copy with an empty stand-in. A
    copy, because moving a subtree out of its document and back costs libxml2 time
    quadratic in the namespaces declared inside it (100 000 took seconds); copying the
    rest is linear in at most MAX_XML_NODES nodes. Copies keep their source lines.
    """
    if not any(child.tag == "metadata" for child in root):
        return root
    # the default namespace's key is None, which lxml accepts and lxml-stubs does not
    shell = etree.Element(root.tag, nsmap=cast("dict[str, str]", root.nsmap))
    for key, value in root.attrib.items():
        shell.set(key, value)
    shell.text = root.text
    for child in root:
        if child.tag == "metadata":
            etree.SubElement(shell, "metadata").tail = child.tail
        else:
            shell.append(copy.deepcopy(child))
    return shell


def _drop_comments(root: _Element) -> None:
    """Remove comments and PIs outside ``<metadata>``, keeping the text around them."""
    doomed = [
        node
        for child in root
        if child.tag != "metadata"
        for node in child.iter(etree.Comment, etree.ProcessingInstruction)
    ]
    for node in doomed:
        parent, previous = cast(_Element, node.getparent()), node.getprevious()
        if node.tail and previous is not None:
            previous.tail = (previous.tail or "") + node.tail
        elif node.tail:
            parent.text = (parent.text or "") + node.tail
        parent.remove(node)


def read_xml_file(path: str | Path, *, schema: str = "domain") -> _Element:
    """Read a file (``-`` is standard input) of at most 10 MiB and :func:`load_xml` it.

    The size is checked with ``fstat`` and a bounded read before anything is parsed.

    :raises SystemCallError: the file cannot be opened or read, or is too large, worded
        as libvirt's ``virFileReadAll`` (``Failed to open file 'x': No such file ...``).
    :raises XmlSyntaxError: see :func:`load_xml`.
    :raises SchemaError: see :func:`load_xml`.
    """
    raw, name = read_user_file(path)
    return load_xml(raw, schema=schema, source=name)


# The path whose content a remote caller sends on standard input (pyvirt.cli.remote):
# the command then reads and names that file exactly as it would on the caller's host.
_stdin_stands_for: str | None = None


def read_stdin_as(path: str) -> None:
    """Read standard input whenever a user's file named ``path`` is asked for."""
    global _stdin_stands_for
    _stdin_stands_for = path


def read_user_file(path: str | Path) -> tuple[bytes, str]:
    """The bytes of a file a user named (``-``: standard input; at most 10 MiB), and its
    name as messages print it.

    :raises SystemCallError: worded as libvirt's ``virFileReadAll``.
    """
    name = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))
    if name == "-" or (_stdin_stands_for is not None and str(path) == _stdin_stands_for):
        return _read_limited(sys.stdin.buffer, name), name
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below; errors mapped apart
    except (OSError, ValueError) as err:
        raise SystemCallError(f"Failed to open file '{name}': {_reason(err)}") from err
    with stream:
        return _read_limited(stream, name), name


def _read_limited(stream: BinaryIO, name: str) -> bytes:
    too_large = f"Failed to read file '{name}': {os.strerror(errno.EOVERFLOW)}"
    try:
        size = os.fstat(stream.fileno()).st_size
    except (OSError, ValueError):  # no file descriptor (e.g. a replaced stdin): read bounded
        size = 0
    if size > MAX_XML_BYTES:
        raise SystemCallError(too_large)
    try:
        raw = stream.read(MAX_XML_BYTES + 1)
    except (OSError, ValueError) as err:
        raise SystemCallError(f"Failed to read file '{name}': {_reason(err)}") from err
    if len(raw) > MAX_XML_BYTES:
        raise SystemCallError(too_large)
    return raw


def _reason(err: Exception) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)
