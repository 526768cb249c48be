"""Domain XML text <-> :class:`Domain`: the hardened loader, the schema and the parser."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyvirt.domain.model import Domain
from pyvirt.domain.xml.document import load_xml, parse_xml, read_xml_file
from pyvirt.domain.xml.domain import format_domain, parse_domain, parse_identity
from pyvirt.domain.xml.writer import to_xml_string
from pyvirt.errors import SchemaError


def domain_from_xml(data: bytes | str, source: str = "") -> Domain:
    """:raises PyvirtError: for malformed, out-of-schema or invalid-valued XML."""
    return parse_domain(load_xml(data, schema="domain", source=source))


@dataclass(frozen=True)
class DomainIdentity:
    """What names a domain: enough to list it or to check a UUID for a clash."""

    name: str
    uuid: str | None


def identity_from_xml(data: bytes | str, source: str = "") -> DomainIdentity:
    """Name and UUID of a domain document, without the schema or the model (a small
    fraction of :func:`domain_from_xml`'s cost).

    A filter, not a verdict: every document :func:`domain_from_xml` accepts gives the
    same name and UUID here, but one accepted here may still fail there.

    :raises PyvirtError: not well-formed (or too large, or with a DOCTYPE), not a
        ``<domain>``, or a missing or bad name or UUID.
    """
    root = parse_xml(data, source=source)
    if root.tag != "domain":
        raise SchemaError(f"expected a <domain> document, not <{root.tag}>")
    name, uuid = parse_identity(root)
    return DomainIdentity(name, uuid)


def domain_from_file(path: str | Path) -> Domain:
    """:raises PyvirtError: also for unreadable paths."""
    return parse_domain(read_xml_file(path, schema="domain"))


def domain_to_xml(domain: Domain) -> str:
    return to_xml_string(format_domain(domain))
