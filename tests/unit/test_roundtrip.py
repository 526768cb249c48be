"""Accepted means kept: parse(format(d)) == d for domains drawn from the declarations
themselves (every declared item, every union variant), the formatted document passes the
generated grammar, and formatting again changes nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from lxml import etree

from pyvirt.domain.io import domain_from_xml, domain_to_xml
from pyvirt.domain.model import Domain
from pyvirt.xmlspec.engine import write, write_slowly
from tests.strategies import of


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(of(Domain))
def test_every_declared_item_round_trips(domain: Domain) -> None:
    text = domain_to_xml(domain)
    again = domain_from_xml(text)  # the hardened loader and the generated schema, too
    assert again == domain
    assert domain_to_xml(again) == text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(of(Domain))
def test_compiled_formatter_equals_the_declarations_read_one_by_one(domain: Domain) -> None:
    compiled, reference = etree.Element("domain"), etree.Element("domain")
    write(compiled, domain)
    write_slowly(reference, domain)
    assert etree.tostring(compiled) == etree.tostring(reference)
