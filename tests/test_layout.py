"""The package's layout rules: no import cycle, no private name imported from another module."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import django_esms_voice

PACKAGE = Path(django_esms_voice.__file__).parent
NAME = "django_esms_voice"


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (migrations left out)."""
    found: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if "migrations" in parts:
            continue
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, str]]:
    """Yield (module, imported name) for every import in a module, at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ""
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield (submodule, "") if submodule in known else (base, alias.name)


def graph(known: dict[str, Path]) -> dict[str, set[str]]:
    """Which of the package's modules each module imports."""
    return {
        name: {target for target, _ in imports(name, path, known) if target in known} - {name}
        for name, path in known.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(graph(modules())) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check above can fail: services importing tasks, as it once did, is a cycle."""
    edges = graph(modules())
    edges[f"{NAME}.services.enqueueing"].add(f"{NAME}.tasks")
    assert any(
        {f"{NAME}.tasks", f"{NAME}.services.enqueueing"} <= set(group) for group in cycles(edges)
    )


def private_imports(known: dict[str, Path]) -> list[str]:
    """List the imports of a private (_x) name from another module of the package."""
    return [
        f"{name}: {target}.{imported}"
        for name, path in known.items()
        for target, imported in imports(name, path, known)
        if target.startswith(NAME) and imported.startswith("_") and not imported.startswith("__")
    ]


def test_no_module_imports_a_private_name_of_another() -> None:
    assert private_imports(modules()) == []


def test_the_private_name_check_finds_one(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from .states import _private\n", encoding="utf-8")
    known = {**modules(), f"{NAME}.sneaky": sneaky}
    assert private_imports(known) == [f"{NAME}.sneaky: {NAME}.states._private"]
