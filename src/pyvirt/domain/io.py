"""Domain XML text <-> :class:`Domain`: the hardened loader, the schema and the parser."""

from __future__ import annotations

from pathlib import Path

from pyvirt.domain.model import Domain
from pyvirt.domain.xml.document import load_xml, read_xml_file
from pyvirt.domain.xml.domain import format_domain, parse_domain
from pyvirt.domain.xml.writer import to_xml_string


def domain_from_xml(data: bytes | str, source: str = "") -> Domain:
    """:raises PyvirtError: for malformed, out-of-schema or invalid-valued XML."""
    return parse_domain(load_xml(data, schema="domain", source=source))


def domain_from_file(path: str | Path) -> Domain:
    """:raises PyvirtError: also for unreadable paths."""
    return parse_domain(read_xml_file(path, schema="domain"))


def domain_to_xml(domain: Domain) -> str:
    return to_xml_string(format_domain(domain))
