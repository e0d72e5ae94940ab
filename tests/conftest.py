"""Shared test fixtures: real data location, database URLs, Spark."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RECOMPRA_SHARED_DATA", ROOT.parent / "shared" / "data"))


def require_shared(*parts: str) -> Path:
    """Return a path under ../shared/data or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set RECOMPRA_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def olist_dir() -> Path:
    """The Olist dataset directory from ../shared/data/olist."""
    return require_shared("olist")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A local Spark session shared by the whole test run."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark tests need Java (the test script installs it)")
    from recompra.engines.spark import get_spark

    session = get_spark("local[2]", app_name="recompra-tests")
    yield session
    session.stop()
