"""The tables the measurement reports read, as pandas frames with UTC timestamps.

Whole-brand reads filtered in pandas rather than ``IN (...)`` lists of customers: a large
journey's customer list would pass SQLite's and PostgreSQL's parameter limits.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from recompra.models import CustomerScore, Order
from recompra.snapshot.schema import NON_PURCHASE_STATUSES


def read_frame(
    session: Session, statement: Select[*tuple[Any, ...]], columns: list[str]
) -> pd.DataFrame:
    """The rows of ``statement`` named ``columns``; ``*_at`` columns become UTC timestamps."""
    frame = pd.DataFrame(list(session.execute(statement).all()), columns=columns)
    for column in columns:
        if column.endswith("_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def purchases(session: Session, *, brand_id: int) -> pd.DataFrame:
    """The brand's purchases (not canceled or unavailable), oldest first."""
    statement = (
        select(Order.id, Order.customer_id, Order.purchased_at, Order.total_minor)
        .where(Order.brand_id == brand_id, Order.status.not_in(NON_PURCHASE_STATUSES))
        .order_by(Order.purchased_at, Order.id)
    )
    return read_frame(
        session, statement, ["order_id", "customer_id", "purchased_at", "total_minor"]
    )


def clv_scores(session: Session, *, brand_id: int) -> pd.DataFrame:
    """Predicted CLV per customer and scoring date, with ``known_at``: the end of the
    as-of day, the first instant a decision could have used it."""
    statement = select(
        CustomerScore.customer_id, CustomerScore.as_of, CustomerScore.clv_minor
    ).where(CustomerScore.brand_id == brand_id, CustomerScore.clv_minor.is_not(None))
    scores = read_frame(session, statement, ["customer_id", "as_of", "clv_minor"])
    scores["known_at"] = pd.to_datetime(scores["as_of"], utc=True) + pd.Timedelta(days=1)
    return scores.drop(columns="as_of").sort_values("known_at", ignore_index=True)
