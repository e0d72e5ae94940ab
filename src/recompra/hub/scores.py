"""Analytics and prediction scores in ``customer_scores`` (history per as-of date).

An analytics run and a prediction run for the same as-of date fill the same row of each
customer; re-running a date updates it, and other dates are never touched.
:func:`latest_segments` reads the newest date's segments and CLV back for the offer policy.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from recompra.hub.rejects import EntityCounts
from recompra.hub.upsert import upsert_rows
from recompra.models import CustomerScore
from recompra.snapshot.schema import ANALYTICS_SCORE_COLUMNS

_SCORES: Table = CustomerScore.__table__  # type: ignore[assignment]
KEY = ("brand_id", "customer_id", "as_of")
PREDICTION_COLUMNS = (
    "p_alive",
    "expected_purchases",
    "expected_next_order_at",
    "clv_minor",
    "churn_risk",
    "model",
    "explanations",
)


def _clean(value: Any) -> Any:
    """Database-ready scalar: NaN/NaT become None, numpy scalars become Python ones."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def store_analytics_scores(
    session: Session, *, brand_id: int, as_of: date, scores: pd.DataFrame
) -> EntityCounts:
    """Upsert the RFM scores, segment and cluster of each customer for ``as_of``."""
    rows = [
        {
            "brand_id": brand_id,
            "customer_id": int(r["customer_id"]),
            "as_of": as_of,
            **{c: _clean(r[c]) for c in ANALYTICS_SCORE_COLUMNS},
        }
        for r in scores.to_dict("records")
    ]
    counts = EntityCounts(read=len(rows))
    upsert_rows(session, _SCORES, rows, key=KEY, compare=ANALYTICS_SCORE_COLUMNS, counts=counts)
    return counts


def store_prediction_scores(
    session: Session, *, brand_id: int, as_of: date, scores: pa.Table
) -> EntityCounts:
    """Upsert CLV, P(alive), churn risk, next order and explanations for ``as_of``."""
    expected = next(c for c in scores.column_names if c.startswith("expected_purchases"))
    rows = []
    for r in scores.to_pylist():
        rows.append(
            {
                "brand_id": brand_id,
                "customer_id": int(r["customer_id"]),
                "as_of": as_of,
                "p_alive": _clean(r["p_alive"]),
                "expected_purchases": _clean(r[expected]),
                "expected_next_order_at": r["expected_next_order_at"],
                "clv_minor": _clean(r["clv_minor"]),
                "churn_risk": _clean(r["churn_risk"]),
                "model": r["model"],
                "explanations": {"pt-BR": r["explanation_pt"], "en": r["explanation_en"]},
            }
        )
    counts = EntityCounts(read=len(rows))
    upsert_rows(session, _SCORES, rows, key=KEY, compare=PREDICTION_COLUMNS, counts=counts)
    return counts


def latest_segments(session: Session, *, brand_id: int) -> pd.DataFrame:
    """Return ``customer_id, segment, clv`` of the brand's latest as-of date with segments.

    Empty (same columns) when the brand's analytics have not been stored yet; ``clv`` is
    null for customers without a stored prediction on that date.
    """
    latest = session.scalar(
        select(func.max(CustomerScore.as_of)).where(
            CustomerScore.brand_id == brand_id, CustomerScore.segment.is_not(None)
        )
    )
    rows = session.execute(
        select(CustomerScore.customer_id, CustomerScore.segment, CustomerScore.clv_minor)
        .where(
            CustomerScore.brand_id == brand_id,
            CustomerScore.as_of == latest,
            CustomerScore.segment.is_not(None),
        )
        .order_by(CustomerScore.customer_id)
    ).all()
    frame = pd.DataFrame(
        [(int(c), str(s), v) for c, s, v in rows], columns=["customer_id", "segment", "clv"]
    )
    # Float so a missing prediction is NaN, which the policy's CLV ranking skips.
    frame["clv"] = frame["clv"].astype("float64")
    return frame
