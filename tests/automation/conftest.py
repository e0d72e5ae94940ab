"""Fixtures of the automation tests: a migrated engine per backend, or on PostgreSQL only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dbtest import BACKENDS, create_test_engine


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database on SQLite and on PostgreSQL."""
    yield from create_test_engine(request.param, tmp_path)


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Engine]:
    """A migrated database on the test PostgreSQL (skipped without one)."""
    yield from create_test_engine("postgres", tmp_path)
