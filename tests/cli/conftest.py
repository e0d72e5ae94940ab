"""Fixtures of the command-line tests: a private ``RECOMPRA_HOME`` with its SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recompra.config import get_settings
from recompra.db import dispose_engines


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh data directory (database, outputs) for one test."""
    monkeypatch.setenv("RECOMPRA_HOME", str(tmp_path))
    monkeypatch.delenv("RECOMPRA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    dispose_engines()
    yield tmp_path
    dispose_engines()
    get_settings.cache_clear()
