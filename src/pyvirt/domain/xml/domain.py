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


_ROOT_MODELS = ("pci-root", "pcie-root")


def number_controllers(el: Element) -> None:
    """Give each ``<controller>`` without ``index`` one, as libvirt's parser does: a PCI
    root bus gets 0, any other the lowest index its type does not use yet (explicit
    indexes are taken first, then document order)."""
    controllers = el.findall("devices/controller")
    used: dict[str | None, set[int]] = {}
    for ctl in controllers:
        raw = ctl.get("index")
        if raw is not None and raw.strip().isdigit():
            used.setdefault(ctl.get("type"), set()).add(int(raw))
    for ctl in controllers:
        if ctl.get("index") is not None:
            continue
        taken = used.setdefault(ctl.get("type"), set())
        index = 0 if ctl.get("model") in _ROOT_MODELS else \
            next(i for i in range(len(taken) + 1) if i not in taken)
        taken.add(index)
        ctl.set("index", str(index))


def parse_domain(el: Element) -> Domain:
    """Build a :class:`Domain` from a schema-checked ``<domain>`` element (controllers
    without an index are numbered in it first).

    :raises PyvirtError: (ParseError, ConfigUnsupportedError) for bad values.
    """
    number_controllers(el)
    return parse(Domain, el)


def format_domain(dom: Domain) -> Element:
    """The ``<domain>`` element, children in libvirt's formatting order."""
    return format_element(dom, "domain")
