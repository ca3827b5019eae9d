"""The import rules that keep the architecture readable (shared/DESIGN.md, shared/STYLE.md):
services never import each other, the shared package imports no service, and no modules import
each other in a circle. The source is read with `ast`; nothing under services/ is imported, so a
module that fails to import cannot hide a broken rule.

Every import counts: at the top, inside functions, and under `if TYPE_CHECKING:` (a circle hidden
there is still a circle: the types say each part needs the whole). `services/cli.py` is the
process launcher and may import any service."""

from __future__ import annotations

import ast
import functools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOP = "services"
SERVICES = ("gateway", "trainer", "predictor", "metrics")
SHARED = "common"
LAUNCHER = f"{TOP}.cli"


@dataclass(frozen=True)
class Import:
    """One import of a project module by another, and where it is written."""

    source: str
    target: str
    where: str  # path:line
    type_checking: bool

    def __str__(self) -> str:
        note = "  (under TYPE_CHECKING)" if self.type_checking else ""
        return f"{self.where}: {self.source} -> {self.target}{note}"


def module_files(root: Path, top: str = TOP) -> dict[str, Path]:
    """Every module of the package `top` under `root`, by dotted name (a package by its
    `__init__.py`)."""
    modules = {}
    for path in sorted((root / top).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def project_imports(root: Path, top: str = TOP) -> list[Import]:
    """Every import between the project's modules."""
    modules = module_files(root, top)
    found: dict[tuple[str, str, str], Import] = {}  # one per line, however many names it takes
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(root).as_posix()
        for node, type_checking in _import_nodes(tree, type_checking=False):
            for target in _targets(node, name, path.name == "__init__.py", modules):
                imp = Import(name, target, f"{where}:{node.lineno}", type_checking)
                if target and target != name:
                    found.setdefault((imp.source, imp.target, imp.where), imp)
    return list(found.values())


def _import_nodes(
    node: ast.AST, type_checking: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        for guarded in node.body:
            yield from _import_nodes(guarded, True)
        for other in node.orelse:
            yield from _import_nodes(other, type_checking)
        return
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, type_checking
    for child in ast.iter_child_nodes(node):
        yield from _import_nodes(child, type_checking)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(
    node: ast.Import | ast.ImportFrom, source: str, is_package: bool, modules: dict[str, Path]
) -> Iterator[str]:
    """The project modules an import statement loads: `from package import module` loads the
    module, `from package import name` the package's `__init__.py`."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield from _known_prefix(alias.name, modules)
        return
    base = node.module or ""
    if node.level:
        package = source.split(".") if is_package else source.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in modules else next(_known_prefix(base, modules), "")


def _known_prefix(dotted: str, modules: dict[str, Path]) -> Iterator[str]:
    """The longest leading part of a dotted name that is one of the project's modules."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            yield ".".join(parts[:end])
            return


def layer(module: str) -> str:
    """`gateway`, `trainer`, `predictor`, `metrics`, `common`, `launcher`, `top` or `unknown`."""
    parts = module.split(".")
    if module == LAUNCHER:
        return "launcher"
    if len(parts) == 1:
        return "top"
    return parts[1] if parts[1] in (*SERVICES, SHARED) else "unknown"


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def cycle_path(graph: dict[str, set[str]], component: list[str], start: str) -> list[str]:
    """A shortest way round the circle from `start` back to it, inside the component."""
    inside = set(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.get(node, set()) & inside):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    raise ValueError(f"{component} is not a circle")


def graph_of(imports: list[Import]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for imp in imports:
        graph.setdefault(imp.source, set()).add(imp.target)
    return graph


def describe_circles(imports: list[Import]) -> str:
    graph = graph_of(imports)
    lines = []
    for n, component in enumerate(found := circles(graph), 1):
        lines.append(f"circle {n} of {len(found)}: {len(component)} modules import each other:")
        lines += [f"    {m}" for m in component]
        covered: set[str] = set()
        for start in component:  # shortest ways round until every module is on one
            if start not in covered:
                path = cycle_path(graph, component, start)
                covered |= set(path)
                lines.append("  round: " + " -> ".join(path))
        lines.append("  the imports inside it (cut one on each way round):")
        inside = set(component)
        lines += [f"    {i}" for i in imports if i.source in inside and i.target in inside]
    return "\n".join(lines)


def fail_if(offending: list[Import], why: str) -> None:
    if offending:
        pytest.fail("\n".join([why, *(f"  {imp}" for imp in offending)]), pytrace=False)


# --- the rules, on today's tree ---------------------------------------------------------------


@functools.cache
def imports() -> list[Import]:
    return project_imports(REPO)


def test_the_graph_sees_the_launcher_start_every_service() -> None:
    """Guards the checks below: a parser that sees nothing would let everything pass."""
    started = {layer(i.target) for i in imports() if i.source == LAUNCHER}
    assert set(SERVICES) <= started, f"services.cli seems to import only {sorted(started)}"


def test_every_module_belongs_to_a_known_part() -> None:
    unknown = sorted(m for m in module_files(REPO) if layer(m) == "unknown")
    assert not unknown, (
        f"Modules outside {TOP}.{{{', '.join((*SERVICES, SHARED))}}} and {LAUNCHER}: {unknown}. "
        "Put them in a service, or in the shared package if every service needs them."
    )


def test_services_never_import_each_other() -> None:
    fail_if(
        [
            i
            for i in imports()
            if layer(i.source) in SERVICES
            and layer(i.target) in SERVICES
            and layer(i.source) != layer(i.target)
        ],
        "A service imports another service (they talk through events and HTTP only; move what "
        "both need to services.common):",
    )


def test_the_shared_package_imports_no_service() -> None:
    fail_if(
        [i for i in imports() if layer(i.source) == SHARED and layer(i.target) in SERVICES],
        "services.common imports a service (the shared package holds only what every service "
        "needs, and depends on none of them):",
    )


def test_no_modules_import_each_other_in_a_circle() -> None:
    if circles(graph_of(imports())):
        pytest.fail("Import circles:\n" + describe_circles(imports()), pytrace=False)


# --- the checker itself can fail ---------------------------------------------------------------


def test_the_circle_finder_on_a_hand_made_graph() -> None:
    graph = {
        "a": {"b"},
        "b": {"c", "d"},
        "c": {"a"},  # a -> b -> c -> a
        "d": {"e"},
        "e": {"d"},  # d <-> e, reached from the first circle but not part of it
        "f": {"a", "g"},  # imports a circle, is not in one
        "g": set(),
    }
    assert circles(graph) == [["a", "b", "c"], ["d", "e"]]
    assert cycle_path(graph, ["a", "b", "c"], "b") == ["b", "c", "a", "b"]
    assert cycle_path(graph, ["d", "e"], "d") == ["d", "e", "d"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_imports_are_resolved_like_python_does(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/common/__init__.py": "from .bus import Bus\n",
        "pkg/common/bus/__init__.py": "from pkg.common.bus.base import Bus\n",
        "pkg/common/bus/base.py": "import json\nclass Bus: ...\n",
        "pkg/one/__init__.py": "",
        "pkg/one/a.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg.one.b import B\n"
            "else:\n    import pkg.common.bus.base\n"
            "def later():\n    from . import b\n"
        ),
        "pkg/one/b.py": "from ..common.bus import Bus\nimport pkg.one.a.nothing\nclass B: ...\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = {(i.source, i.target, i.type_checking) for i in project_imports(tmp_path, "pkg")}
    assert found == {
        ("pkg.common", "pkg.common.bus", False),  # a relative import in an __init__.py
        ("pkg.common.bus", "pkg.common.bus.base", False),
        ("pkg.one.a", "pkg.one.b", True),
        ("pkg.one.a", "pkg.common.bus.base", False),  # the else branch is not TYPE_CHECKING
        ("pkg.one.a", "pkg.one.b", False),  # `from package import module`, inside a function
        ("pkg.one.b", "pkg.common.bus", False),  # `from package import name`: its __init__.py
        ("pkg.one.b", "pkg.one.a", False),  # the longest part that is a module
    }
    imports = project_imports(tmp_path, "pkg")
    assert circles(graph_of(imports)) == [["pkg.one.a", "pkg.one.b"]]
    assert "pkg/one/a.py:3: pkg.one.a -> pkg.one.b  (under TYPE_CHECKING)" in describe_circles(
        imports
    )
