"""Elements libvirt itself does not know: dropped with a warning, or refused.

``virsh define`` skips an element its grammar has no name for (libvirt's parser reads
what it knows and ignores the rest); ``virsh define --validate`` refuses the document.
pyvirt does the same, but says what it dropped: each dropped element is reported as an
:class:`UnknownElementWarning` (the CLI prints ``warning: ...`` on standard error).
Elements libvirt knows and pyvirt does not run are not affected: the grammar refuses
them, naming them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import cast

from lxml import etree

from pyvirt.domain.xml.grammar import element_name, position
from pyvirt.domain.xml.libvirt_names import LIBVIRT_DOMAIN_ELEMENTS
from pyvirt.errors import SchemaError

# Namespaces of libvirt's own extensions (qemu:commandline ...): known, judged by the grammar.
_LIBVIRT_NAMESPACE_PREFIX = "http://libvirt.org/schemas/"
_refuse: ContextVar[bool] = ContextVar("refuse_unknown_elements", default=False)
_Element = etree._Element


class UnknownElementWarning(UserWarning):
    """An element libvirt does not know was dropped from a domain definition."""


@contextmanager
def unknown_elements_refused() -> Iterator[None]:
    """Within this block, an unknown element is an error (``define --validate``)."""
    token = _refuse.set(True)
    try:
        yield
    finally:
        _refuse.reset(token)


def _known(el: _Element) -> bool:
    qname = etree.QName(el)
    if qname.namespace is not None:
        return qname.namespace.startswith(_LIBVIRT_NAMESPACE_PREFIX)
    return qname.localname in LIBVIRT_DOMAIN_ELEMENTS


def _unknown(root: _Element) -> Iterator[_Element]:
    """The outermost unknown elements under *root*, ``<metadata>`` left alone."""
    stack = [c for c in reversed(root) if isinstance(c.tag, str) and c.tag != "metadata"]
    while stack:
        el = stack.pop()
        if not _known(el):
            yield el
            continue
        stack.extend(c for c in reversed(el) if isinstance(c.tag, str))


def drop_unknown_elements(root: _Element) -> None:
    """Remove each element of a ``<domain>`` that libvirt's grammar has no name for,
    warning about each (:class:`UnknownElementWarning`).

    :raises SchemaError: for the first one, inside :func:`unknown_elements_refused`.
    """
    for el in list(_unknown(root)):
        name = f"<{element_name(el)}>{position(el)}"
        if _refuse.get():
            raise SchemaError(f"unknown element {name}: libvirt's domain schema does not "
                              "have it")
        warnings.warn(f"ignoring unknown element {name}", UnknownElementWarning,
                      stacklevel=2)
        parent, previous = cast(_Element, el.getparent()), el.getprevious()
        if el.tail and previous is not None:
            previous.tail = (previous.tail or "") + el.tail
        elif el.tail:
            parent.text = (parent.text or "") + el.tail
        parent.remove(el)
