"""The package reads like the workflow and stays so: no import cycle, no private name across packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hone"
WORKFLOW = {
    "config", "data", "search", "tune", "analysis", "launch",
    "serve", "store", "monitor", "maintain", "report", "cli",
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every `import` / `from ... import` of hone, wherever it stands in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "hone" or node.module.startswith("hone."):
                found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names if alias.name.startswith("hone"))
    return found


def edges_of(name: str) -> set[str]:
    targets = set()
    for module, names in imports_of(MODULES[name]):
        submodules = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
        targets.update(submodules or [module])
        if submodules and len(submodules) < len(names):
            targets.add(module)
    return {t for t in targets if t in MODULES and t != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_top_level_reads_as_the_workflow() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    files = {p.name for p in PACKAGE.glob("*.py")}
    assert folders == WORKFLOW
    assert files == {"__init__.py", "errors.py"}
    for folder in folders:
        assert ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text())), folder


def test_no_import_cycle_between_modules() -> None:
    graph = {name: edges_of(name) for name in MODULES}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def _package(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


@pytest.mark.parametrize("folder", ["hone", "tests", "bench", "examples"])
def test_no_private_name_imported_across_packages(folder: str) -> None:
    offenders = []
    for path in (ROOT / folder).rglob("*.py"):
        importer = module_name(path) if folder == "hone" else folder
        for module, names in imports_of(path):
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            if private and (folder != "hone" or _package(module) != _package(importer)):
                offenders.append(f"{path.relative_to(ROOT)}: from {module} import {', '.join(private)}")
    assert not offenders, "\n".join(offenders)
