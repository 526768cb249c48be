"""``<domain>`` element <-> :class:`Domain`: the declarations on the model say it all
(:mod:`pyvirt.xmlspec`); this module is the door the rest of pyvirt uses."""

from __future__ import annotations

from pyvirt.domain.model.domain import Domain, checked_name, checked_uuid
from pyvirt.domain.xml.util import Element
from pyvirt.xmlspec.engine import format_element, parse


def parse_identity(el: Element) -> tuple[str, str | None]:
    """Name and UUID of a ``<domain>`` element that still has its comments (see
    ``parse_xml``): what :func:`parse_domain` reads once ``load_xml`` has dropped them,
    checked the same way.

    :raises ParseError: for a missing or forbidden name, or a malformed UUID.
    """
    def joined(tag: str) -> str | None:  # the text around comments and PIs, joined
        child = el.find(tag)
        return None if child is None else \
            "".join(t for t in child.itertext() if isinstance(t, str))

    return checked_name(joined("name")), checked_uuid((joined("uuid") or "").strip() or None)


def parse_domain(el: Element) -> Domain:
    """Build a :class:`Domain` from a schema-checked ``<domain>`` element.

    :raises PyvirtError: (ParseError, ConfigUnsupportedError) for bad values.
    """
    return parse(Domain, el)


def format_domain(dom: Domain) -> Element:
    """The ``<domain>`` element, children in libvirt's formatting order."""
    return format_element(dom, "domain")
