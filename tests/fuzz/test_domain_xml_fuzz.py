"""Mutated domain XML never gets a traceback or a partial write out of pyvirt.

Every case goes through ``validate``, ``domxml-to-native`` and ``define``: in-process
(the service functions the CLI calls), through the CLI entry point in-process (with
``PYVIRT_DEBUG=1``, so an unexpected exception escapes instead of being turned into an
``internal error`` line), and, for a few cases, through a real ``pyvirt`` subprocess.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest
from click.testing import CliRunner
from hypothesis import given
from lxml import etree

from pyvirt.cli.main import cli
from pyvirt.domain.io import domain_from_xml, domain_to_xml
from pyvirt.errors import PyvirtError, SystemCallError
from pyvirt.service.convert import native_command, validate_file
from tests.fuzz.conftest import FuzzRoot, budget, fuzz_settings
from tests.fuzz.corpus import mutated_documents
from tests.fuzz.known_bugs import (
    FIXED_BUGS,
    KNOWN_BUGS,
    KnownBug,
    known_document,
    known_exception,
    still_reproduces,
)

T = TypeVar("T")

_COUNTER = itertools.count()
_RAN: dict[str, int] = {}
# what reports_errors prints for an exception that is not a PyvirtError (a bug)
_BUG_LINE = re.compile(r"^error: internal error: [A-Za-z_.]+(?:Error|Exception|Exit|Warning)"
                       r"\b: ")


def _case_file(fuzz: FuzzRoot, data: bytes) -> Path:
    path = fuzz.work / f"case-{next(_COUNTER) % 64}.xml"
    path.write_bytes(data)
    return path


def _check_define(fuzz: FuzzRoot, path: Path, data: bytes, validated: bool) -> None:
    """define stores the whole new definition or nothing at all."""
    fuzz.clear_store()
    before = fuzz.config_snapshot()
    try:
        domain = fuzz.svc.define_file(path)
    except SystemCallError:  # a host limit validate does not know (e.g. name length)
        assert fuzz.config_snapshot() == before, "a refused define changed the store"
        return
    except PyvirtError:
        assert fuzz.config_snapshot() == before, "a refused define changed the store"
        assert not validated, "validate accepted what define refused"
        return
    assert validated, "define accepted what validate refused"
    after = fuzz.config_snapshot()
    stored_name = f"{domain.name}.xml"
    assert set(after) == set(before) | {stored_name}, sorted(set(after) ^ set(before))
    assert {k: v for k, v in after.items() if k != stored_name} == \
        {k: v for k, v in before.items() if k != stored_name}
    stored = after[stored_name]
    assert stored.decode() == domain_to_xml(domain)
    back = domain_from_xml(stored)
    if known_document(data) is None:
        assert replace(back, metadata=None) == replace(domain, metadata=None), \
            "what define stored does not parse back to what it meant"
        assert _metadata_content(back.metadata) == _metadata_content(domain.metadata), \
            "define changed the content of <metadata>"
    again = fuzz.svc.define_file(fuzz.ctx.root.config_dir / stored_name)  # dumpxml | define
    assert domain_to_xml(again) == stored.decode(), "re-defining the stored XML changed it"
    fuzz.svc.undefine(domain.name)
    assert fuzz.config_snapshot() == before


def _metadata_content(metadata: str | None) -> bytes | None:
    """*metadata* canonicalised, whitespace-only text ignored (the formatter re-indents)."""
    if metadata is None:
        return None
    root = etree.fromstring(metadata)
    for el in root.iter():
        if el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    return etree.tostring(root, method="c14n")


def _tolerating_known_bugs(call: Callable[[], T]) -> T | None:
    """*call*'s result; None when it failed with an open, reported bug's signature."""
    try:
        return call()
    except PyvirtError:
        raise
    except Exception as err:
        if known_exception(err) is None:
            raise
        return None


@fuzz_settings("pipeline")
@given(data=mutated_documents())
def test_service_pipeline_survives_mutations(fuzz_root: FuzzRoot, data: bytes) -> None:
    _RAN["pipeline"] = _RAN.get("pipeline", 0) + 1
    path = _case_file(fuzz_root, data)
    try:
        domain = validate_file(fuzz_root.ctx, path)
    except PyvirtError:
        validated = False
    else:
        validated = True
        try:
            command = _tolerating_known_bugs(lambda: native_command(fuzz_root.ctx, domain))
        except PyvirtError:
            pass
        else:
            if command is not None:
                assert "-sandbox" in command.argv
    _check_define(fuzz_root, path, data, validated)


def _invoke(fuzz: FuzzRoot, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(cli, ["-c", fuzz.uri, *args], env={"PYVIRT_DEBUG": "1"},
                           catch_exceptions=True)
    err = result.exception
    if err is not None and not isinstance(err, SystemExit):
        if known_exception(err) is not None:  # reported: what the user sees without DEBUG
            return 1, "", f"error: known bug {known_exception(err).ident}\n"  # type: ignore[union-attr]
        raise err  # a traceback: exactly what must never happen
    return result.exit_code, result.stdout, result.stderr


def _assert_clean_failure(code: int, stderr: str, what: str, data: bytes) -> None:
    assert code in (0, 1), f"{what}: exit status {code}: {stderr}"
    assert "Traceback" not in stderr, stderr
    if code == 1:
        lines = stderr.splitlines()
        assert lines and lines[0].startswith("error: "), f"{what}: {stderr!r}"
        assert len(lines) == 1, f"{what}: {stderr!r}"
        assert not _BUG_LINE.match(lines[0]), f"{what}: {lines[0]}"


@fuzz_settings("cli")
@given(data=mutated_documents())
def test_cli_commands_survive_mutations(fuzz_root: FuzzRoot, data: bytes) -> None:
    _RAN["cli"] = _RAN.get("cli", 0) + 1
    import pyvirt.cli.domcmds
    import pyvirt.cli.xmlcmds  # noqa: F401  (registers the commands)

    path = _case_file(fuzz_root, data)
    fuzz_root.clear_store()
    before = fuzz_root.config_snapshot()
    code, _out, err = _invoke(fuzz_root, "validate", str(path))
    _assert_clean_failure(code, err, "validate", data)
    code_native, _out, err = _invoke(fuzz_root, "domxml-to-native", "qemu-argv", str(path))
    _assert_clean_failure(code_native, err, "domxml-to-native", data)
    assert code_native == 1 or code == 0, "domxml-to-native converted what validate refused"
    code_define, out, err = _invoke(fuzz_root, "define", str(path))
    _assert_clean_failure(code_define, err, "define", data)
    assert code_define == code or "File name too long" in err, "validate and define disagree"
    if code_define == 0:
        name = out.removeprefix("Domain '").rsplit("' defined from ", 1)[0]
        fuzz_root.svc.undefine(name)
    assert fuzz_root.config_snapshot() == before


def test_known_bugs_still_reproduce() -> None:
    """Fails once a reported bug is fixed: then move it to FIXED_BUGS in known_bugs.py."""
    fixed = [bug.ident for bug in KNOWN_BUGS if not still_reproduces(bug)]
    assert not fixed, f"{fixed} are fixed: move them to FIXED_BUGS in known_bugs.py"


@pytest.mark.parametrize("bug", FIXED_BUGS, ids=lambda b: b.ident)
def test_fixed_bugs_stay_fixed(bug: KnownBug) -> None:
    assert not still_reproduces(bug), f"{bug.ident} is back: {bug.summary}"


def test_budgets_were_spent() -> None:
    """The fuzzers above ran their whole budget (hypothesis did not stop early)."""
    for kind in ("pipeline", "cli"):
        if kind in _RAN:  # not selected with -k: nothing to check
            assert _RAN[kind] >= budget(kind), (kind, _RAN[kind])


@pytest.mark.parametrize("shard", range(budget("subprocess")))
def test_real_cli_process_survives_mutations(fuzz_root: FuzzRoot, shard: int,
                                              tmp_path: Path) -> None:
    """A few cases through a real ``pyvirt`` process: exit status, stderr, no traceback."""
    from hypothesis import HealthCheck, settings
    from hypothesis import strategies as st

    picked: list[bytes] = []

    @settings(max_examples=1, database=None, suppress_health_check=list(HealthCheck))
    @given(st.randoms(use_true_random=True), mutated_documents())
    def pick(_rng: object, data: bytes) -> None:
        picked.append(data)

    pick()
    path = tmp_path / "case.xml"
    path.write_bytes(picked[-1])
    uri = f"qemu:///embed?root={tmp_path / 'root'}"
    env = {**os.environ, "PYVIRT_DEBUG": ""}
    codes = []
    for args in (("validate",), ("domxml-to-native", "qemu-argv"), ("define",)):
        proc = subprocess.run([sys.executable, "-m", "pyvirt.cli", "-c", uri, *args, str(path)],
                              capture_output=True, text=True, timeout=60, env=env)
        _assert_clean_failure(proc.returncode, proc.stderr, args[0], picked[-1])
        codes.append(proc.returncode)
    assert codes[2] == codes[0], f"validate and define disagree on {picked[-1][:300]!r}"
    config = tmp_path / "root" / "etc" / "qemu"
    stored = list(config.iterdir()) if config.is_dir() else []
    assert len(stored) == (1 if codes[2] == 0 else 0), stored
    for file in stored:
        domain_from_xml(file.read_bytes())
