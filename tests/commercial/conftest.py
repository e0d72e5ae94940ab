"""Shared fixtures: the Olist funnel imported once into SQLite, and the raw CSVs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from realdata import require_shared
from recompra.commercial.olist_funnel import import_olist_funnel
from recompra.db import make_engine, unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.rejects import ImportReport
from recompra.migrate import upgrade


@pytest.fixture(scope="session")
def funnel_dir() -> Path:
    """The Olist marketing-funnel directory from ../shared/data."""
    return require_shared("olist_marketing_funnel")


@pytest.fixture(scope="session")
def raw_leads(funnel_dir: Path) -> pd.DataFrame:
    """The leads CSV as plain pandas reads it (the independent side of the tests)."""
    return pd.read_csv(funnel_dir / "olist_marketing_qualified_leads_dataset.csv.gz")


@pytest.fixture(scope="session")
def raw_deals(funnel_dir: Path) -> pd.DataFrame:
    """The closed-deals CSV as plain pandas reads it."""
    return pd.read_csv(funnel_dir / "olist_closed_deals_dataset.csv.gz")


@pytest.fixture(scope="session")
def funnel_db(
    funnel_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, int, ImportReport]]:
    """A migrated SQLite database with the Olist funnel imported into brand ``demo``."""
    path = tmp_path_factory.mktemp("funnel") / "funnel.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "demo").id
    report = import_olist_funnel(engine, funnel_dir, brand_id=brand_id)
    yield engine, brand_id, report
    engine.dispose()
