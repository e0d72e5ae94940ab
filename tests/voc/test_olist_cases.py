"""On the real Olist data: every 1-2-star review becomes exactly one case with an SLA
clock. The expected counts come from pandas on the raw review file, not from Recompra."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from dbtest import olist_database
from recompra.db import unit_of_work
from recompra.models.voc import Case
from recompra.voc.feedback import open_cases_from_feedback

pytestmark = pytest.mark.slow
NOW = datetime(2026, 6, 17, 13, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def olist_engine(olist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Olist imported into a migrated SQLite file (a copy of the run's one import)."""
    _, engine, _ = olist_database(olist_dir, tmp_path_factory.mktemp("olist"))
    yield engine
    engine.dispose()


def test_every_low_olist_review_becomes_one_case_with_a_clock(
    olist_engine: Engine, olist_dir: Path
) -> None:
    reviews = pd.read_csv(olist_dir / "olist_order_reviews_dataset_partial_10k.csv.gz", dtype=str)
    orders = pd.read_csv(olist_dir / "olist_orders_dataset.csv.gz", dtype=str, usecols=["order_id"])
    # The natural key of an Olist review is (review_id, order_id); reviews of unknown
    # orders cannot be linked and are rejected by the importer.
    reviews = reviews.drop_duplicates(["review_id", "order_id"])
    reviews = reviews[reviews["order_id"].isin(orders["order_id"])]
    scores = reviews["review_score"].astype(int)
    expected_low, expected_one = int((scores <= 2).sum()), int((scores == 1).sum())

    opened = 0
    while True:  # the job opens at most 2,000 per pass, as the worker would
        with unit_of_work(olist_engine) as session:
            batch = open_cases_from_feedback(session, now=NOW)
        opened += batch
        if batch == 0:
            break
    assert opened == expected_low
    with unit_of_work(olist_engine, write=False) as session:
        total, distinct, high, clocked = session.execute(
            select(
                func.count(),
                func.count(func.distinct(Case.review_id)),
                func.count().filter(Case.priority == "high"),
                func.count().filter(
                    Case.first_response_due_at.is_not(None), Case.resolution_due_at.is_not(None)
                ),
            )
        ).one()
    assert (total, distinct, high, clocked) == (
        expected_low,
        expected_low,
        expected_one,
        expected_low,
    )
