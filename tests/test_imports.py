"""Imports go one way (docs/architecture.md, "Layers"). `lint-imports` in ./test.sh checks the layer
contracts of pyproject.toml; these tests check what a contract cannot say: no two app modules import
each other, even through others or inside a function, and nothing of ours is loaded by a string."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

from app.config import PROJECT_ROOT

APP_DIR = PROJECT_ROOT / "app"

# No known cycles remain (refund approval moved into payments; checkout's idempotency no longer imports the
# repository that imported it). A new one fails the test below.
KNOWN_CYCLES: set[frozenset[str]] = set()


def _import_cycles(graph: grimp.ImportGraph) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[frozenset[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            recursed = False
            for i in range(child, len(edges[node])):
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((node, i + 1))
                    work.append((nxt, 0))
                    recursed = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if recursed:
                continue
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(frozenset(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return cycles


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # grimp reads every import statement, those inside functions included.
    return grimp.build_graph("app", include_external_packages=False, cache_dir=None)


class TestImportCycles:
    def test_no_module_imports_itself_through_others(self, graph):
        new = [sorted(c) for c in _import_cycles(graph) if c not in KNOWN_CYCLES]
        assert new == [], f"import cycles among app modules: {new}"

    def test_the_known_cycles_are_still_there(self, graph):
        gone = [sorted(c) for c in KNOWN_CYCLES if c not in _import_cycles(graph)]
        assert gone == [], f"these cycles are gone: remove them from KNOWN_CYCLES: {gone}"

    def test_a_cycle_through_a_function_body_is_found(self):
        graph = grimp.ImportGraph()
        for name in ("app", "app.a", "app.b", "app.c"):
            graph.add_module(name)
        graph.add_import(importer="app.a", imported="app.b")
        graph.add_import(importer="app.b", imported="app.c")
        graph.add_import(importer="app.c", imported="app.a")
        assert _import_cycles(graph) == [frozenset({"app.a", "app.b", "app.c"})]


def _string_imports(path: Path) -> list[str]:
    """Calls that load a module by name: importlib.import_module(...), __import__(...)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in {"import_module", "__import__"}:
            found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    return found


def test_nothing_of_ours_is_loaded_by_a_string():
    found = [hit for path in sorted(APP_DIR.rglob("*.py")) for hit in _string_imports(path)]
    assert found == [], f"load these modules with an import statement instead: {found}"
