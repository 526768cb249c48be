"""The committed grammars are what ``make schema`` generates from the declarations:
regenerating them in memory changes nothing (a change to a model must come with its
regenerated grammar)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pyvirt.domain.xml.grammar import SCHEMA_DIR
from pyvirt.domain.xml.schema import domain_grammar
from pyvirt.network.schema import network_grammar


@pytest.mark.parametrize(("name", "generate"), [
    ("domain", domain_grammar),
    ("network", network_grammar),
])
def test_regenerating_changes_nothing(name: str, generate: Callable[[], str]) -> None:
    committed = (SCHEMA_DIR / f"{name}.rng").read_text()
    assert generate() == committed, f"{name}.rng is stale: run `make schema`"
