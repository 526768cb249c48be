"""Edges of the store the fuzzer and the audits ran into (src/pyvirt/store)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pyvirt.errors import SystemCallError
from pyvirt.service.context import Context
from pyvirt.service.domains import DomainService
from pyvirt.store.atomic import ensure_dir
from pyvirt.store.locks import DomainLock
from tests.unit.test_document import MINIMAL


def test_missing_parents_are_created_private(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    ensure_dir(deep)
    for path in (tmp_path / "a", tmp_path / "a" / "b", deep):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    ensure_dir(deep)  # existing: fine, unchanged
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemCallError):
        ensure_dir(tmp_path / "file" / "sub")


def test_a_domain_whose_name_starts_with_a_dot_is_listed(tmp_path: Path) -> None:
    svc = DomainService(Context.open(f"qemu:///embed?root={tmp_path}"))
    svc.define_xml(MINIMAL.format("").replace("<name>a</name>", "<name>.hidden</name>")
                   .replace("type='kvm'", "type='qemu'"))
    assert [v.name for v in svc.list_domains(True)] == [".hidden"]
    svc.undefine(".hidden")
    assert svc.list_domains(True) == []


def test_a_lock_that_cannot_exist_is_a_clear_error(tmp_path: Path) -> None:
    lock = DomainLock(tmp_path, "x" * 300, "define")
    with pytest.raises(SystemCallError, match=r"cannot open lock file .*: File name too long"):
        lock.acquire()
