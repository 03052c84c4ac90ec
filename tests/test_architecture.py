"""The import graph of the package, read from the source: no module or subpackage cycles."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "mapreduce_fsm"


Graph = Mapping[str, frozenset[str]]


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Every module of `package` under `root`, by dotted name (a package is its __init__)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports(child)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def import_graph(root: Path, package: str) -> dict[str, frozenset[str]]:
    """Module -> the package's modules it imports (an imported submodule, not its parent)."""
    modules = module_files(root, package)
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            source = _resolve(name, is_package, node)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in modules else source)
        graph[name] = frozenset(t for t in targets if t in modules and t != name)
    return graph


def subpackage_graph(graph: Graph, package: str) -> dict[str, frozenset[str]]:
    """The same graph between top-level parts: `mapreduce_fsm.X` for each X."""

    def top(module: str) -> str:
        return ".".join(module.split(".")[:2]) if module != package else package

    collapsed: dict[str, set[str]] = {}
    for module, targets in graph.items():
        collapsed.setdefault(top(module), set()).update(
            top(t) for t in targets if top(t) != top(module)
        )
    return {name: frozenset(targets) for name, targets in collapsed.items()}


def find_cycles(graph: Graph) -> list[list[str]]:
    """One cycle per strongly connected group of nodes, each as `[a, b, ..., a]`."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_through(graph, group) for group in groups]


def _cycle_through(graph: Graph, group: list[str]) -> list[str]:
    """A shortest path from the group's first member back to itself, inside the group."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph.get(node, ())):
                if target == start:
                    return [*paths[node], start]
                if target in members and target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {group}")  # a strongly connected group has one


def describe(cycles: list[list[str]]) -> str:
    return "\n".join(" -> ".join(cycle) for cycle in cycles)


GRAPH = import_graph(ROOT, PACKAGE)


def test_the_graph_is_read_from_the_source() -> None:
    assert "mapreduce_fsm.cli.main" in GRAPH and "mapreduce_fsm.errors" in GRAPH
    assert "mapreduce_fsm.errors" in GRAPH["mapreduce_fsm.config.loader"]


def test_no_module_imports_itself_back() -> None:
    cycles = find_cycles(GRAPH)
    assert not cycles, f"import cycles between modules:\n{describe(cycles)}"


def test_no_two_subpackages_import_each_other() -> None:
    cycles = find_cycles(subpackage_graph(GRAPH, PACKAGE))
    assert not cycles, f"import cycles between subpackages:\n{describe(cycles)}"


def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_checker_finds_a_cycle_in_a_synthetic_package(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a/__init__.py": "from pkg.a import one\n",
        "pkg/a/one.py": "from pkg.b.two import helper\n",
        "pkg/b/__init__.py": "",
        "pkg/b/two.py": "def helper():\n    from ..a import three\n",  # function level
        "pkg/a/three.py": "from . import one\n",
        "pkg/c.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a.one\n"
        ),
    })
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.b.two"] == {"pkg.a.three"}
    assert graph["pkg.c"] == frozenset()  # a TYPE_CHECKING import is no run-time edge
    assert describe(find_cycles(graph)) == "pkg.a.one -> pkg.b.two -> pkg.a.three -> pkg.a.one"
    assert describe(find_cycles(subpackage_graph(graph, "pkg"))) == "pkg.a -> pkg.b -> pkg.a"


@pytest.mark.parametrize("acyclic", [{"x": frozenset({"y"}), "y": frozenset()}, {}])
def test_the_checker_finds_no_cycle_where_there_is_none(acyclic: Graph) -> None:
    assert find_cycles(acyclic) == []
