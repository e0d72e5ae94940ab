"""Load an earlier migration's module by its file name.

A migration that rewrites an earlier one's server-side functions takes their text from
that migration (and its downgrade restores it): the text of a released migration never
changes, so it is read, not copied. Migration files are not importable by name (their
names start with digits), hence the loader.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

_VERSIONS = Path(__file__).with_name("versions")


def earlier_migration(file_name: str) -> ModuleType:
    """The module of ``versions/<file_name>`` (e.g. ``"0029_ledger_functions.py"``)."""
    path = _VERSIONS / file_name
    spec = importlib.util.spec_from_file_location(f"recompra_migration_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
