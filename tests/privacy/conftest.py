"""Privacy test fixtures: the identified store on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from privacytest import Identified, identify

from dbtest import BACKENDS, create_test_engine


@pytest.fixture(params=BACKENDS)
def identified(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Identified]:
    """The identified store on SQLite (file under the data directory) and PostgreSQL."""
    home = tmp_path / "home"
    home.mkdir()
    for engine in create_test_engine(request.param, home):
        yield identify(engine, home)
