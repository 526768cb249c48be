"""Fixtures of the hardening tests.

``host`` is the end-to-end suite's embed root, placed under a short path, so QEMU's monitor
socket has an absolute path (under 108 bytes; pytest's own temporary paths are long): the
common case. ``test_long_paths.py`` covers the other one (bug B7).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Host


def short_base() -> Path:
    return Path(tempfile.mkdtemp(prefix="pvh", dir="/tmp"))


@pytest.fixture
def host() -> Iterator[Host]:
    base = short_base()
    h = Host(base / "host")
    yield h
    leftovers = h.qemu_pids()
    h.kill_all()
    shutil.rmtree(base, ignore_errors=True)
    assert not leftovers, f"QEMU left running after the test: {leftovers}"
