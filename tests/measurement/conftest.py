"""Fixtures of the measurement tests: a migrated engine per backend, and the automation
tests' small store (made importable here rather than copied)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dbtest import BACKENDS, create_test_engine

sys.path.insert(0, str(Path(__file__).parent.parent / "automation"))


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database on SQLite and on PostgreSQL."""
    yield from create_test_engine(request.param, tmp_path)
