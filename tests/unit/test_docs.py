"""docs/teaming.md quotes golden error messages: they must stay exactly true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `([a-z0-9-]+)`[^|]*\| `(.*)` \|$", re.M)


def test_quoted_messages_match_golden_errors() -> None:
    text = (ROOT / "docs" / "teaming.md").read_text()
    rows = ROW.findall(text)
    checked = 0
    for case, message in rows:
        err = ROOT / "tests" / "data" / "xmlconf" / f"{case}.err"
        if err.exists():
            assert err.read_text().strip().split(": ", 1)[1] == message, case
            checked += 1
    assert checked >= 30
