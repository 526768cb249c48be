"""Imports point down, lazy ones included (docs/architecture.md, "Layers").

Every module under ``src/pyvirt`` is parsed, not imported, and every import is read
wherever it stands: at module level, inside a function, under ``if TYPE_CHECKING``, and
``importlib.import_module("pyvirt.…")`` with a literal name (a name built at run time,
such as the CLI's command table, is not seen). The rules:

1. **Down only.** A module imports from its own component or from a component of a
   lower layer of :data:`LAYERS`; two components of one layer do not import each other.
   Imports under ``if TYPE_CHECKING`` count too: a type from a higher layer is knowledge
   of that layer all the same.
2. **Tools beside the stack.** ``guest/`` (builds the demo/test guest) imports only the
   base (``types``, ``errors``), and only the front ends (``cli/``, ``demo.py``) import it.
3. **No cycle between modules**, through any import that runs, lazy ones included. Only
   imports under ``if TYPE_CHECKING`` are exempt from this rule: they never run.
4. **Every component has a place**: a new package must be put into :data:`LAYERS`.
5. **The pure core stays pure**: ``domain/``, ``network/``, ``qemu/``, ``xmlspec/`` and
   ``migration/plan.py`` import no process, event-loop, socket, clock or randomness module
   (DESIGN §1): probing QEMU and caching its answer live in ``runtime/``.

A lower layer that needs something from a higher one declares a ``Protocol`` (a port) and
the higher layer passes an implementation in: ``runtime.hooks.HostHooks`` (implemented in
``host/``, wired in ``service/``), ``migration.ports.DomainOps`` (implemented by
``service.domains.DomainService``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

#: Components, top layer first. A component is the first name below ``pyvirt``;
#: ``api.py``, ``api_*.py`` and the package root (which forwards to ``api``) form ``api``.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "demo", "compat"),  # front ends: virsh's verbs, the demo, import-libvirt shim
    ("api",),  # libvirt-python's API (the CLI serves it to remote callers: api-agent)
    ("service",),  # use cases, the one front door per lifecycle verb, wiring of ports
    ("migration",),  # plan (pure), protocol, job files, source/destination orchestration
    ("runtime",),  # QEMU processes, run directories, launch plans, caps probe and cache
    ("host",),  # SR-IOV, VFIO, host records: behind runtime.hooks.HostHooks
    ("qmp", "store"),  # the QMP client; state roots, atomic files, locks, definitions
    ("qemu",),  # pure: capabilities value, QEMU rules, PCI placement, command builder
    ("network",),  # pure: network definitions (model, XML, schema), beside the domain's
    ("domain",),  # pure: model, XML, schema, generic validation and defaults
    ("xmlspec",),  # the declarative XML field engine the model is written in
    ("types",),
    ("errors",),
)
BASE = frozenset({"types", "errors"})
#: Tools beside the stack: component -> the only components that may import it.
BESIDE: dict[str, frozenset[str]] = {"guest": frozenset({"cli", "demo"})}
PURE = ("pyvirt.domain", "pyvirt.network", "pyvirt.qemu", "pyvirt.xmlspec",
        "pyvirt.migration.plan")
IMPURE_MODULES = frozenset({"asyncio", "subprocess", "socket", "time", "random", "secrets",
                            "threading", "multiprocessing", "signal", "qemu", "pyroute2"})


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (a module of pyvirt, or any other top name)
    line: int
    lazy: bool  # inside a function
    type_only: bool  # under ``if TYPE_CHECKING``

    def where(self) -> str:
        kind = " (TYPE_CHECKING)" if self.type_only else " (lazy)" if self.lazy else ""
        return f"{self.source}:{self.line} imports {self.target}{kind}"


def module_files(src: Path = SRC) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's ``__init__``)."""
    found = {}
    for path in sorted((src / "pyvirt").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Reader(ast.NodeVisitor):
    """Collects (dotted name, line, lazy, type_only) for every import in one module."""

    def __init__(self, module: str, package: bool) -> None:
        self.module, self.package = module, package
        self.found: list[tuple[str, tuple[str, ...], int, bool, bool]] = []
        self.depth = 0
        self.type_only = False

    def _note(self, name: str, members: tuple[str, ...], line: int) -> None:
        self.found.append((name, members, line, self.depth > 0, self.type_only))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.visit(node.test)
        before, self.type_only = self.type_only, True
        for stmt in node.body:
            self.visit(stmt)
        self.type_only = before
        for stmt in node.orelse:
            self.visit(stmt)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._note(alias.name, (), node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.module.split(".") if self.package else self.module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            name = ".".join([*base, *([node.module] if node.module else [])])
        else:
            name = node.module or ""
        self._note(name, tuple(a.name for a in node.names), node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else \
            func.id if isinstance(func, ast.Name) else ""
        if called == "import_module" and node.args and \
                isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            self._note(node.args[0].value, (), node.lineno)
        self.generic_visit(node)


def _resolve(name: str, modules: dict[str, tuple[Path, bool]]) -> str:
    """The module of pyvirt *name* is (or lies in); other names stay as they are."""
    probe = name
    while probe and probe not in modules:
        probe = probe.rpartition(".")[0]
    return probe or name


def scan_source(module: str, package: bool, text: str,
                modules: dict[str, tuple[Path, bool]]) -> list[Import]:
    reader = _Reader(module, package)
    reader.visit(ast.parse(text))
    imports = []
    for name, members, line, lazy, type_only in reader.found:
        # ``from X import n``: the module X.n when there is one, else X itself
        targets = [f"{name}.{m}" if f"{name}.{m}" in modules else name for m in members] \
            or [name]
        for target in dict.fromkeys(targets):
            resolved = _resolve(target, modules) if target.startswith("pyvirt") else target
            if resolved != module:
                imports.append(Import(module, resolved, line, lazy, type_only))
    return imports


def scan(src: Path = SRC) -> list[Import]:
    modules = module_files(src)
    return [imp for module, (path, package) in modules.items()
            for imp in scan_source(module, package, path.read_text(), modules)]


def component(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "api"  # the package root forwards to pyvirt.api
    return "api" if parts[1] == "api" or parts[1].startswith("api_") else parts[1]


def rank(comp: str) -> int | None:
    for depth, layer in enumerate(LAYERS):
        if comp in layer:
            return depth
    return None


def ours(imports: list[Import]) -> Iterator[Import]:
    return (imp for imp in imports if imp.target.startswith("pyvirt"))


# --- the rules --------------------------------------------------------------------------


def test_every_component_has_a_place() -> None:
    components = {component(m) for m in module_files()}
    placed = {c for layer in LAYERS for c in layer} | BESIDE.keys()
    assert components - placed == set(), "put each new package into LAYERS"


def test_imports_point_down() -> None:
    upward = []
    for imp in ours(scan()):
        src, dst = component(imp.source), component(imp.target)
        if src == dst or dst in BESIDE or src in BESIDE:
            continue
        src_rank, dst_rank = rank(src), rank(dst)
        if src_rank is None or dst_rank is None or dst_rank <= src_rank:
            upward.append(imp.where())
    assert not upward, "\n".join(upward)


def test_tools_beside_the_stack() -> None:
    wrong = []
    for imp in ours(scan()):
        src, dst = component(imp.source), component(imp.target)
        if src == dst:
            continue
        if src in BESIDE and dst not in BASE:
            wrong.append(imp.where())
        if dst in BESIDE and src not in BESIDE[dst]:
            wrong.append(imp.where())
    assert not wrong, "\n".join(wrong)


def cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), over imports that run."""
    graph: dict[str, set[str]] = {}
    for imp in ours(imports):
        if not imp.type_only:
            graph.setdefault(imp.source, set()).add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_cycles() -> None:
    imports = scan()
    found = cycles(imports)
    detail = [imp.where() for group in found for imp in imports
              if imp.source in group and imp.target in group and not imp.type_only]
    assert not found, "\n".join(detail)


def test_the_pure_core_does_no_io() -> None:
    impure = [imp.where() for imp in scan()
              if imp.source.startswith(PURE) and not imp.type_only
              and imp.target.split(".")[0] in IMPURE_MODULES]
    assert not impure, "\n".join(impure)


# --- the scanner itself -------------------------------------------------------------------


SAMPLE = '''
from __future__ import annotations
import importlib
from typing import TYPE_CHECKING
from pyvirt.store import atomic
from . import sibling
if TYPE_CHECKING:
    from pyvirt.service.domains import DomainService
else:
    import json

def later() -> None:
    from pyvirt.runtime.launch import quick_start
    importlib.import_module("pyvirt.api")

class K:
    async def method(self) -> None:
        import pyvirt.qmp.monitor
'''


def test_the_scanner_sees_every_kind_of_import() -> None:
    modules = {name: (Path(), False) for name in (
        "pyvirt.store.atomic", "pyvirt.store", "pyvirt.runtime.sibling", "pyvirt.runtime.me",
        "pyvirt.service.domains", "pyvirt.runtime.launch", "pyvirt.api", "pyvirt.qmp.monitor")}
    seen = {(i.target, i.lazy, i.type_only) for i in ours(
        scan_source("pyvirt.runtime.me", False, SAMPLE, modules))}
    assert seen == {
        ("pyvirt.store.atomic", False, False), ("pyvirt.runtime.sibling", False, False),
        ("pyvirt.service.domains", False, True), ("pyvirt.runtime.launch", True, False),
        ("pyvirt.api", True, False), ("pyvirt.qmp.monitor", True, False)}


def test_a_lazy_cycle_is_a_cycle() -> None:
    a_to_b = Import("pyvirt.x.a", "pyvirt.x.b", 1, lazy=False, type_only=False)
    b_to_a = Import("pyvirt.x.b", "pyvirt.x.a", 9, lazy=True, type_only=False)
    assert cycles([a_to_b, b_to_a]) == [["pyvirt.x.a", "pyvirt.x.b"]]
    assert cycles([a_to_b, Import("pyvirt.x.b", "pyvirt.x.a", 9, False, True)]) == []
