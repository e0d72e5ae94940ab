"""The loyalty package's layers import downwards only (ADR 0001, layout amendment)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import recompra.loyalty

LOYALTY = Path(recompra.loyalty.__file__).parent

#: Package -> loyalty packages it must never import (they sit above it).
FORBIDDEN = {
    "ledger": ("tiers", "rules", "rewards", "operations", "expiry", "simulate"),
    "tiers": ("rewards", "operations", "expiry", "simulate"),
    "rules": ("ledger", "tiers", "rewards", "operations", "expiry", "simulate"),
}


def _loyalty_imports(path: Path) -> set[str]:
    """The ``recompra.loyalty.<name>`` sub-packages a module imports, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        modules: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        for module in modules:
            parts = module.split(".")
            if parts[:2] == ["recompra", "loyalty"] and len(parts) > 2:
                names.add(parts[2])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_upper_ones(package: str) -> None:
    offending = {
        str(path.relative_to(LOYALTY)): sorted(_loyalty_imports(path) & set(FORBIDDEN[package]))
        for path in sorted((LOYALTY / package).glob("*.py"))
    }
    assert {path: names for path, names in offending.items() if names} == {}


def test_only_postings_changes_cached_balances() -> None:
    """ADR 0001: one posting path. No other module updates the balance columns."""
    core_update = re.compile(r"\b(balance|pending|debt)=\w+\.(c\.)?\1 ?[+-]")
    orm_assignment = re.compile(r"\.(balance|pending|debt) ?[-+]?= ")
    writers = []
    for path in sorted(LOYALTY.rglob("*.py")):
        text = path.read_text()
        if core_update.search(text) or orm_assignment.search(text):
            writers.append(str(path.relative_to(LOYALTY)))
    # expiry.py is the documented bulk exception (ADR 0001).
    assert writers == ["expiry.py", "ledger/postings.py"]
