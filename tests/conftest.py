"""Shared test fixtures: real data location, database URLs, Spark."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realdata import SHARED_DATA, require_shared

__all__ = ["SHARED_DATA", "require_shared"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI (``RECOMPRA_STRICT_TESTS``), refuse to run with a real component missing.

    PostgreSQL, Spark (Java) and Chromium tests skip on a developer machine without them;
    in CI a skip would hide that they never ran, so the run fails instead.
    """
    if not os.environ.get("RECOMPRA_STRICT_TESTS"):
        return
    missing = []
    if not os.environ.get("RECOMPRA_TEST_POSTGRES_URL"):
        missing.append("PostgreSQL (RECOMPRA_TEST_POSTGRES_URL)")
    if shutil.which("java") is None:
        missing.append("Java for Spark")
    if not Path("/usr/bin/chromium").exists():
        missing.append("/usr/bin/chromium")
    if not SHARED_DATA.exists():
        missing.append(f"real data at {SHARED_DATA}")
    if missing:
        pytest.exit(f"strict test run, but missing: {', '.join(missing)}", returncode=3)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the files that hold a ``slow`` test first (otherwise in collection order).

    ``scripts/test`` hands whole files to the xdist workers in this order
    (``--dist loadfile --no-loadscope-reorder``): starting the long files first leaves the
    many short ones to even out the end, instead of one worker finishing a long import
    alone while the other is idle.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


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
