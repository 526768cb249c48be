"""Accepted means kept: parse(format(d)) == d for domains drawn from the declarations
themselves (every declared item, every union variant), the formatted document passes the
generated grammar, and formatting again changes nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from pyvirt.domain.io import domain_from_xml, domain_to_xml
from pyvirt.domain.model import Domain
from tests.strategies import of


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(of(Domain))
def test_every_declared_item_round_trips(domain: Domain) -> None:
    text = domain_to_xml(domain)
    again = domain_from_xml(text)  # the hardened loader and the generated schema, too
    assert again == domain
    assert domain_to_xml(again) == text
