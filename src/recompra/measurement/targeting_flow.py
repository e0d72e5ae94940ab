"""Turning a journey's uplift targeting on, or saying why not (issue 16, deliverable 5).

The journey's matured entrants are split 70/30; both uplift models are judged by their
Qini coefficient on the held-out 30% (:mod:`recompra.measurement.targeting`). Targeting
is enabled only when a model's bootstrap 95% CI lies above zero; that model (the one
with the highest lower bound) is then refitted on every entrant and predicts the uplift
of every customer who has bought, from their features now. The send decision reads the
predictions (:mod:`recompra.automation.targeting_gate`). Otherwise the journey's row
says why not and no prediction is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from recompra.errors import NotFound
from recompra.measurement.targeting import ClassTransformation, TLearner
from recompra.measurement.uplift import (
    WINDOW_DAYS,
    cuped_covariate,
    journey_frame,
    journey_targeting,
    targeting_features,
)
from recompra.models.automation import Journey
from recompra.models.measurement import JourneyTargeting, UpliftPrediction

MODELS: dict[str, type[TLearner] | type[ClassTransformation]] = {
    "t_learner": TLearner,
    "class_transformation": ClassTransformation,
}


@dataclass(frozen=True)
class TargetingDecision:
    """Whether the journey now targets by uplift, with the model's figures or the reason."""

    journey: str
    enabled: bool
    model: str | None
    qini: float | None
    ci_low: float | None
    ci_high: float | None
    reason: str | None
    predicted: int
    positive: int


def fit_targeting(
    session: Session,
    *,
    brand_id: int,
    journey_key: str,
    now: datetime,
    window_days: int = WINDOW_DAYS,
) -> TargetingDecision:
    """Judge the uplift models on the journey's holdout data and store the outcome."""
    journey = session.scalar(
        select(Journey).where(Journey.brand_id == brand_id, Journey.key == journey_key)
    )
    if journey is None:
        raise NotFound(f"journey {journey_key!r} not found", field="journey")
    frame, orders = journey_frame(session, journey, now=now, window_days=window_days)
    results = journey_targeting(frame, orders) if not frame.empty else []
    usable = [r for r in results if r.use_for_targeting]
    session.execute(delete(UpliftPrediction).where(UpliftPrediction.journey_id == journey.id))
    row = session.get(JourneyTargeting, journey.id) or JourneyTargeting(journey_id=journey.id)
    session.add(row)
    row.fitted_at = now
    if not usable:
        reason = "ranking_not_better_than_random" if results else "too_little_holdout_data"
        row.enabled, row.model, row.qini, row.ci_low, row.ci_high = False, None, None, None, None
        row.reason = reason
        return TargetingDecision(journey_key, False, None, None, None, None, reason, 0, 0)
    best = max(usable, key=lambda r: r.ci_low)
    held = frame["holdout"].astype(bool).to_numpy()
    model = MODELS[best.model]().fit(
        targeting_features(frame, orders), ~held, (frame["orders"] > 0).to_numpy()
    )
    everyone = pd.DataFrame(
        {"customer_id": orders["customer_id"].unique(), "started_at": pd.Timestamp(now)}
    )
    everyone["covariate"] = cuped_covariate(session, brand_id, everyone, orders)[1].to_numpy()
    uplift = model.predict_uplift(targeting_features(everyone, orders))
    session.execute(
        insert(UpliftPrediction),
        [
            {"journey_id": journey.id, "customer_id": int(c), "uplift": float(u)}
            for c, u in zip(everyone["customer_id"], uplift, strict=True)
        ],
    )
    row.enabled, row.model, row.reason = True, best.model, None
    row.qini, row.ci_low, row.ci_high = best.qini, best.ci_low, best.ci_high
    return TargetingDecision(
        journey_key,
        True,
        best.model,
        best.qini,
        best.ci_low,
        best.ci_high,
        None,
        len(everyone),
        int((uplift > 0).sum()),
    )
