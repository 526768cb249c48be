"""Hostile documents through the real CLI: refused fast, with little memory, nothing
written, nothing leaked. (tests/unit/test_document.py covers the same limits in-process.)"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.unit.test_document import BILLION_LAUGHS, MINIMAL

# pyvirt itself (Python and its imports) needs about 0.3 s of CPU and 32 MB; a document
# that is expanded or read whole would need far more.
CPU_LIMIT = 1.0
MEMORY_LIMIT_KIB = 64 * 1024
# The node cap is checked on the parsed tree: 10 MB of tiny elements peak at about 215 MB.
MANY_NODES_MEMORY_LIMIT_KIB = 256 * 1024


# Measures its child alone: a child forked from pytest itself would count pytest's memory
# in its peak RSS (Linux keeps the pre-exec high-water mark).
_MEASURE = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump([usage.ru_utime + usage.ru_stime, usage.ru_maxrss], out)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(root: Path, *args: str, stdin: bytes | None = None
                 ) -> tuple[int, str, str, float, int, float]:
    """(exit status, stdout, stderr, CPU seconds, peak RSS in KiB, wall seconds) of one
    ``pyvirt`` process."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "usage.json"
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", _MEASURE, str(report), sys.executable,
                               "-m", "pyvirt.cli", "-c", f"qemu:///embed?root={root}", *args],
                              input=stdin, capture_output=True, timeout=60)
        wall = time.monotonic() - started
        cpu, rss = json.loads(report.read_text())
    return (proc.returncode, proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"), cpu, rss, wall)


def refused_quickly(root: Path, *args: str, stdin: bytes | None = None,
                    memory_kib: int = MEMORY_LIMIT_KIB) -> str:
    """The one error line of a pyvirt command that must fail fast and small."""
    code, stdout, stderr, cpu, rss, wall = run_measured(root, *args, stdin=stdin)
    assert code == 1, (args, code, stderr)
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert cpu < CPU_LIMIT, f"{args}: {cpu:.2f} s of CPU"
    assert rss < memory_kib, f"{args}: peak RSS {rss} KiB"
    assert wall < 10, f"{args}: {wall:.1f} s"
    assert "root:" not in stderr + stdout
    return stderr


DEEP = "<domain>" + "<a>" * 10_000 + "</a>" * 10_000 + "</domain>"
EXTERNAL = ("<?xml version='1.0'?>\n<!DOCTYPE domain [ <!ENTITY x SYSTEM 'file:///etc/passwd'> ]>"
            "\n<domain type='qemu'><name>&x;</name><memory>1</memory></domain>")
PARAMETER = ("<!DOCTYPE domain [ <!ENTITY % p SYSTEM 'http://127.0.0.1:9/x.dtd'> %p; ]>"
             "<domain type='qemu'><name>p</name><memory>1</memory></domain>")
QUADRATIC = ("<!DOCTYPE domain [<!ENTITY a '" + "x" * 50_000 + "'>]><domain type='qemu'>"
             "<name>q</name><memory>1</memory><title>" + "&a;" * 50_000 + "</title></domain>")
MANY_NODES = MINIMAL.format("<devices>" + "<audio id='1' type='none'/>" * 300_000 +
                            "</devices>")
HOSTILE = {
    "billion-laughs": BILLION_LAUGHS,
    "external-entity": EXTERNAL,
    "parameter-entity": PARAMETER,
    "quadratic-blowup": QUADRATIC,
    "deep-nesting": DEEP,
    "many-nodes": MANY_NODES,
}


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("hostile")
    files = {}
    for name, text in HOSTILE.items():
        files[name] = base / f"{name}.xml"
        files[name].write_text(text)
    huge = base / "100mb.xml"
    with huge.open("wb") as stream:  # sparse: 100 MB of NULs without using the disk
        stream.write(MINIMAL.format("<metadata>").encode())
        stream.truncate(100 * 1024 * 1024)
    files["100-megabytes"] = huge
    return files


@pytest.mark.parametrize("command", [["validate"], ["define"],
                                     ["domxml-to-native", "qemu-argv"]], ids=lambda c: c[0])
@pytest.mark.parametrize("case", [*HOSTILE, "100-megabytes"])
def test_hostile_document_is_refused_quickly(hostile_files: dict[str, Path], case: str,
                                             command: list[str], tmp_path: Path) -> None:
    root = tmp_path / "root"
    memory = MANY_NODES_MEMORY_LIMIT_KIB if case == "many-nodes" else MEMORY_LIMIT_KIB
    message = refused_quickly(root, *command, str(hostile_files[case]), memory_kib=memory)
    expected = {
        "billion-laughs": "error: XML error: DOCTYPE is not allowed (line 2)",
        "external-entity": "error: XML error: DOCTYPE is not allowed (line 2)",
        "parameter-entity": "error: XML error: DOCTYPE is not allowed (line 1)",
        "quadratic-blowup": "error: XML error: DOCTYPE is not allowed (line 1)",
        "many-nodes": "error: XML error: document has more than 10000 nodes outside "
                      "<metadata>",
        "100-megabytes": f"error: Failed to read file '{hostile_files[case]}': Value too "
                         "large for defined data type",
    }.get(case)
    if expected is not None:
        assert message.strip() == expected
    else:
        assert "Excessive depth" in message
    config = root / "etc" / "qemu"
    assert not config.exists() or list(config.iterdir()) == [], "something was stored"


def test_hundred_megabytes_on_stdin_are_refused_quickly(tmp_path: Path) -> None:
    data = MINIMAL.format("<metadata>" + " " * (100 * 1024 * 1024) + "</metadata>").encode()
    message = refused_quickly(tmp_path / "root", "validate", "-", stdin=data)
    assert "Value too large" in message


def test_xinclude_is_kept_verbatim_not_followed(tmp_path: Path) -> None:
    """An XInclude in <metadata> is stored as written; nothing it names is read. Outside
    <metadata> it is refused like any unknown element."""
    root = tmp_path / "root"
    include = ("<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='/etc/passwd' "
               "parse='text'/>")
    kept = tmp_path / "kept.xml"
    kept.write_text(MINIMAL.format(f"<metadata>{include}</metadata>"))
    proc = subprocess.run([sys.executable, "-m", "pyvirt.cli", "-c",
                           f"qemu:///embed?root={root}", "define", str(kept)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    stored = (root / "etc" / "qemu" / "a.xml").read_text()
    assert "xi:include" in stored and "root:" not in stored
    outside = tmp_path / "outside.xml"
    outside.write_text(MINIMAL.format(include))
    dropped = subprocess.run([sys.executable, "-m", "pyvirt.cli", "-c",
                              f"qemu:///embed?root={tmp_path / 'root2'}", "define",
                              str(outside)], capture_output=True, text=True, timeout=60)
    assert dropped.returncode == 0, dropped.stderr
    assert dropped.stderr == "warning: ignoring unknown element <xi:include> (line 1)\n"
    stored = (tmp_path / "root2" / "etc" / "qemu" / "a.xml").read_text()
    assert "include" not in stored and "root:" not in stored
    message = refused_quickly(tmp_path / "root3", "define", "--validate", str(outside))
    assert "xi:include" in message


def test_many_namespaces_in_metadata_validate_quickly() -> None:
    """Validation used to move <metadata> out of the tree and back, which libxml2 does in
    time quadratic in the namespaces declared inside: 100 000 took seconds."""
    from pyvirt.domain.xml.document import load_xml

    body = "".join(f"<x{i}:m xmlns:x{i}='urn:{i}'/>" for i in range(100_000))
    started = time.monotonic()
    root = load_xml(MINIMAL.format(f"<metadata>{body}</metadata>"))
    assert time.monotonic() - started < 1.0
    assert len(root.find("metadata")) == 100_000  # type: ignore[arg-type]
