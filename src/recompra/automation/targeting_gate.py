"""Uplift targeting in the send decision: a journey whose targeting is enabled skips the
marketing messages of customers predicted not to respond to them.

Measurement enables a journey's targeting only when its uplift model's Qini 95% CI lay
above zero on a held-out split (:mod:`recompra.measurement.targeting_flow`) and stores
each customer's predicted uplift. Both arms are gated alike (a holdout member the model
would skip gets no "would have sent" row either), so the holdout still measures the
targeted journey. A customer without a prediction (new since the fit) is not skipped:
the model has nothing to say about them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.models.measurement import JourneyTargeting, UpliftPrediction


def skipped_by_targeting(session: Session, *, journey_id: int, customer_id: int) -> bool:
    """Whether the journey targets by uplift and predicts none (or less) for the customer."""
    uplift = session.scalar(
        select(UpliftPrediction.uplift)
        .join(JourneyTargeting, JourneyTargeting.journey_id == UpliftPrediction.journey_id)
        .where(
            JourneyTargeting.journey_id == journey_id,
            JourneyTargeting.enabled.is_(True),
            UpliftPrediction.customer_id == customer_id,
        )
    )
    return uplift is not None and uplift <= 0
