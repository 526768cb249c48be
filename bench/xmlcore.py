"""The declarative XML core (issue 17) against the hand-written parser it replaced.

The baseline is pyvirt at BASELINE (the last commit with the hand-written parse/format
pairs), checked out as a git worktree; both trees run on this checkout's interpreter and
packages, alternating A/B. Measured: the ``validate`` and ``domxml-to-native`` command
lines on the demo guest, and in-process parse and format per document over the
baseline's golden inputs (which both trees accept).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lib import PYTHON, REPO, Samples, alternate, ratio, timed

BASELINE = "1cf1445"
_CLI = "import sys; from pyvirt.cli.main import main; sys.argv[0] = 'pyvirt'; main()"
_INPROCESS = r"""
import json, sys, time
from pathlib import Path
from pyvirt.domain.io import domain_from_xml
from pyvirt.domain.xml.document import load_xml
from pyvirt.domain.xml.domain import format_domain, parse_domain
docs, names = [], []
wanted = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else None
for p in sorted(Path(sys.argv[1]).glob("*.xml")):
    if p.name.endswith(".formatted.xml") or (wanted is not None and p.name not in wanted):
        continue
    try:
        domain_from_xml(p.read_text()); docs.append(p.read_text()); names.append(p.name)
    except Exception:
        pass
if wanted is None:  # the listing run: which documents this tree accepts
    print(json.dumps(names)); raise SystemExit
els = [load_xml(d) for d in docs]
doms = [parse_domain(e) for e in els]
def per_doc(call, items):
    best = None
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(20):
            for x in items:
                call(x)
        took = (time.perf_counter() - t) / 20 / len(items)
        best = took if best is None else min(best, took)
    return best
print(json.dumps({"parse": per_doc(parse_domain, els), "format": per_doc(format_domain, doms),
                  "documents": len(docs)}))
"""


def baseline_tree(work: Path) -> Path:
    tree = work / "baseline"
    if not tree.exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree),
                        BASELINE], check=True, capture_output=True)
        subprocess.run([PYTHON, "-m", "compileall", "-q", str(tree / "src")],
                       capture_output=True)
    return tree


def remove_baseline(work: Path) -> None:
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                    str(work / "baseline")], capture_output=True)


def _env(src: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(src)}


def compare(work: Path, uri: str, xml: Path, runs: int) -> list[tuple[str, str, str, str]]:
    """Rows (what, A = this tree, B = baseline, A/B)."""
    base = baseline_tree(work)
    here_env, base_env = _env(REPO / "src"), _env(base / "src")
    rows = []
    for label, args in (("validate", ["validate", str(xml)]),
                        ("domxml-to-native", ["domxml-to-native", "qemu-argv", str(xml)])):
        ours, theirs = Samples(), Samples()
        argv = [PYTHON, "-c", _CLI, "-c", uri, *args]
        alternate(runs, lambda o=ours, a=argv: o.add(timed(a, env=here_env)[0]),
                  lambda t=theirs, a=argv: t.add(timed(a, env=base_env)[0]))
        rows.append((f"`{label}` CLI", ours.spread(), theirs.spread(),
                     ratio(ours.median, theirs.median)))
    inputs = base / "tests" / "data" / "xmlconf"
    ours_p, theirs_p, ours_f, theirs_f = Samples(), Samples(), Samples(), Samples()
    documents = 0
    # the documents both trees accept (the newer one accepts more): same work on each side
    both = set.intersection(*(set(json.loads(timed([PYTHON, "-c", _INPROCESS, str(inputs)],
                                                   env=env)[1].stdout))
                              for env in (here_env, base_env)))

    def run(env: dict[str, str], parse: Samples, fmt: Samples) -> None:
        nonlocal documents
        out = json.loads(timed([PYTHON, "-c", _INPROCESS, str(inputs), ",".join(sorted(both))],
                               env=env)[1].stdout)
        parse.add(out["parse"])
        fmt.add(out["format"])
        documents = out["documents"]

    alternate(max(3, runs // 3), lambda: run(here_env, ours_p, ours_f),
              lambda: run(base_env, theirs_p, theirs_f))
    for label, a, b in (("parse", ours_p, theirs_p), ("format", ours_f, theirs_f)):
        rows.append((f"in-process {label} per document ({documents} golden inputs)",
                     f"{a.median * 1e6:.0f} µs", f"{b.median * 1e6:.0f} µs",
                     ratio(a.median, b.median)))
    return rows


if __name__ == "__main__":  # a quick look: python bench/xmlcore.py URI XML
    import tempfile
    w = Path(tempfile.mkdtemp(prefix="pvx", dir="/tmp"))
    try:
        for row in compare(w, sys.argv[1], Path(sys.argv[2]), 5):
            print(" | ".join(row))
    finally:
        remove_baseline(w)
