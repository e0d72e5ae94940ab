"""The shape of ``src/recompra``: module size, layer order and import cycles (issue 10).

Everything is read with ``ast`` (nothing is imported), so the test is fast and sees
imports inside functions as well. ``if TYPE_CHECKING:`` imports count for the layer
order (an annotation naming an upper layer is still a dependency on it) but not for
cycles (they never run, so they cannot make one). Migrations are frozen history and
left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import recompra

SRC = Path(recompra.__file__).parent
MAX_LINES = 600

#: Top-level packages (and modules) of ``recompra``, lowest layer first. A module may
#: import its own layer and the layers below it, never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("config", "errors", "db", "models", "migrate", "spreadsheets", "formatting"),
    ("hub", "snapshot", "engines", "generate", "ops"),
    ("analytics", "predict", "recommend", "loyalty", "segments", "commercial"),
    ("reads", "auth", "pipeline", "automation", "voc", "measurement", "privacy", "shopper"),
    ("api", "web"),
    ("server",),
    ("cli",),
)
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}


@dataclass(frozen=True)
class Import:
    """One import statement: who imports what, and whether only for type checking."""

    module: str
    target: str
    line: int
    type_only: bool


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if "migrations" in parts:
            continue
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> list[Import]:
    """The ``recompra`` modules ``module`` imports (``from a import b`` names ``a.b`` too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for target in targets:
            if target.split(".")[0] == "recompra":
                found.append(Import(module, target, getattr(node, "lineno", 0), type_only))
        for inner in ast.iter_child_nodes(node):
            visit(inner, type_only)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _top(dotted: str) -> str | None:
    """The top-level package or module of ``recompra`` that ``dotted`` lies in."""
    parts = dotted.split(".")
    if len(parts) < 2:
        return None
    name = parts[1]
    return name if (SRC / name).is_dir() or (SRC / f"{name}.py").is_file() else None


def _all_imports() -> list[Import]:
    return [imp for module, path in _modules() for imp in _imports(module, path)]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return components


def test_every_top_level_name_has_a_layer() -> None:
    names = {name for module, _ in _modules() if (name := _top(module)) is not None}
    assert sorted(names - set(LAYER_OF)) == []


def test_no_module_over_600_lines() -> None:
    sizes = {
        str(path.relative_to(SRC)): len(path.read_text(encoding="utf-8").splitlines())
        for _, path in _modules()
    }
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_imports_run_down_the_layers() -> None:
    upward = []
    for imp in _all_imports():
        source, target = _top(imp.module), _top(imp.target)
        if source is None or target is None:
            continue
        if LAYER_OF[target] > LAYER_OF[source]:
            upward.append(f"{imp.module}:{imp.line} imports {imp.target}")
    assert sorted(set(upward)) == []


def test_no_import_cycle_between_packages() -> None:
    edges: dict[str, set[str]] = {}
    for imp in _all_imports():
        source, target = _top(imp.module), _top(imp.target)
        if source and target and source != target and not imp.type_only:
            edges.setdefault(source, set()).add(target)
    assert _cycles(edges) == []


def test_cycle_finder_sees_a_cycle() -> None:
    # The finder is ours, so it is checked on a graph with a known answer.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from recompra.api.deps import X\n", ["recompra.api.deps", "recompra.api.deps.X"]),
        ("if TYPE_CHECKING:\n    import recompra.web\n", ["recompra.web (type only)"]),
        ("def f():\n    from . import errors\n", ["recompra.hub", "recompra.hub.errors"]),
    ],
)
def test_import_reader(tmp_path: Path, source: str, expected: list[str]) -> None:
    path = tmp_path / "module.py"
    path.write_text(source)
    found = _imports("recompra.hub.module", path)
    assert [f"{i.target}{' (type only)' if i.type_only else ''}" for i in found] == expected
