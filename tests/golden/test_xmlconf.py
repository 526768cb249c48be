"""Golden files for XML→XML, XML→argv and XML→error (DESIGN §8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden.harness import OUTPUT_SUFFIXES, XMLCONF, case_names, run_case

CASES = case_names()


def test_there_are_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", CASES)
def test_case(name: str, regenerate: bool) -> None:
    outcome = run_case(name)
    for suffix, content in outcome.files().items():
        path = XMLCONF / f"{name}{suffix}"
        if regenerate:
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(content)
            continue
        if content is None:
            assert not path.exists(), f"{path.name} exists but the case produced no {suffix}"
        else:
            assert path.exists(), f"missing golden file {path.name}; run pytest --regenerate"
            assert content == path.read_text(), f"{path.name} differs"


def test_no_orphan_files() -> None:
    inputs = set(CASES)
    orphans = []
    for path in XMLCONF.iterdir():
        stem = next((path.name[: -len(s)] for s in OUTPUT_SUFFIXES if path.name.endswith(s)),
                    None)
        if stem is None and path.suffix == ".xml":
            continue
        if stem is None or stem not in inputs:
            orphans.append(path.name)
    assert not orphans, f"data files no case uses: {orphans}"


def test_error_files_are_one_line() -> None:
    for path in Path(XMLCONF).glob("*.err"):
        lines = path.read_text().splitlines()
        assert len(lines) == 1 and ": " in lines[0], path.name


@pytest.mark.parametrize("name", [n for n in CASES
                                  if (XMLCONF / f"{n}.qemu-7.2.args").exists()])
def test_generated_devices_use_known_properties(name: str) -> None:
    """Every -device property of every golden argv is one the recorded QEMU lists."""
    from tests.golden.harness import caps_for
    from tests.unit.test_command_conformance import (
        assert_device_props_known,
        read_args_file,
    )

    assert_device_props_known(read_args_file(XMLCONF / f"{name}.qemu-7.2.args"),
                              caps_for(name))
