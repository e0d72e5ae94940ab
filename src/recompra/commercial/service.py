"""Write use cases of the analyses: store back-tests and lead scores (caller's session)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import update
from sqlalchemy.orm import Session

from recompra.commercial.forecast import Backtest
from recompra.hub.rejects import EntityCounts
from recompra.hub.upsert import upsert_rows
from recompra.models import ForecastBacktest, Lead


def store_backtest(session: Session, *, brand_id: int, backtest: Backtest, at: datetime) -> int:
    """Upsert every (model, month) of ``backtest``; return how many rows were written."""
    rows = [
        {
            "brand_id": brand_id,
            "model": model,
            "month": row.month,
            "forecast": value,
            "actual": row.actual,
            "computed_at": at,
        }
        for row in backtest.rows
        for model, value in row.forecasts.items()
    ]
    counts = EntityCounts()
    upsert_rows(
        session,
        ForecastBacktest.__table__,  # type: ignore[arg-type]
        rows,
        key=("brand_id", "model", "month"),
        compare=("forecast", "actual"),
        counts=counts,
    )
    return counts.inserted + counts.updated


def store_lead_scores(
    session: Session, *, lead_ids: pd.Series, scores: np.ndarray, at: datetime
) -> int:
    """Write each lead's probability (ids from the brand's funnel frame); return the count."""
    rows = [
        {"id": int(lead), "score": float(score), "scored_at": at}
        for lead, score in zip(lead_ids, scores, strict=True)
    ]
    # ORM bulk update by primary key: one executemany instead of a statement per lead.
    session.execute(update(Lead), rows)
    session.flush()
    return len(rows)
