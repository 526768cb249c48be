"""Serialise element trees the way virsh prints them: two-space indent, single quotes."""

from __future__ import annotations

from copy import deepcopy

from lxml import etree

from pyvirt.domain.xml.util import Element

_ATTR_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&apos;",
                               '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})

# Elements whose content is user data kept verbatim (namespaces, comments and all).
VERBATIM = frozenset({"metadata"})


def _tag(el: Element) -> str:
    return str(el.tag)


def _open_tag(el: Element) -> str:
    parts = [f" {key!s}='{str(value).translate(_ATTR_ESCAPES)}'"
             for key, value in el.attrib.items()]
    return f"<{_tag(el)}{''.join(parts)}"


def _verbatim_children(el: Element, pad: str) -> list[str]:
    """Foreign content (``<metadata>``), indented afresh: the layout whitespace it came
    with is dropped first, so formatting what was formatted changes nothing."""
    lines: list[str] = []
    for child in el:
        copy = deepcopy(child)
        drop_layout(copy)
        text = etree.tostring(copy, encoding="unicode", with_tail=False, pretty_print=True)
        lines.extend(pad + line for line in text.splitlines())
    return lines


def drop_layout(el: Element) -> None:
    """Remove whitespace-only text between elements (indentation), keeping the text of
    elements without element children, whatever it is."""
    for node in el.iter():
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
        for child in node:
            if child.tail is not None and not child.tail.strip():
                child.tail = None


def _write(el: Element, depth: int, out: list[str]) -> None:
    pad = "  " * depth
    children = [c for c in el if isinstance(c.tag, str)]
    text = el.text
    if el.tag in VERBATIM:
        body = _verbatim_children(el, pad + "  ")
        if not body:
            out.append(f"{pad}{_open_tag(el)}/>")
            return
        out.append(f"{pad}{_open_tag(el)}>")
        out.extend(body)
        out.append(f"{pad}</{_tag(el)}>")
    elif children:
        out.append(f"{pad}{_open_tag(el)}>")
        for child in children:
            _write(child, depth + 1, out)
        out.append(f"{pad}</{_tag(el)}>")
    elif text:
        out.append(f"{pad}{_open_tag(el)}>{text.translate(_TEXT_ESCAPES)}</{_tag(el)}>")
    else:
        out.append(f"{pad}{_open_tag(el)}/>")


def to_xml_string(el: Element) -> str:
    """Pretty-print *el* (no XML declaration), ending with a newline."""
    out: list[str] = []
    _write(el, 0, out)
    return "\n".join(out) + "\n"
