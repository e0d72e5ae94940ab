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

from recompra.db.dialect import in_values
from recompra.models.measurement import JourneyTargeting, UpliftPrediction


def targeted_uplifts(session: Session, *, customer_ids: list[int]) -> dict[tuple[int, int], float]:
    """The predicted uplift of each (journey, customer) pair whose journey targets by
    uplift, for ``customer_ids``: one statement for a whole decision batch (it cost one
    per marketing decision)."""
    return {
        (journey_id, customer_id): uplift
        for journey_id, customer_id, uplift in session.execute(
            select(
                UpliftPrediction.journey_id, UpliftPrediction.customer_id, UpliftPrediction.uplift
            )
            .join(JourneyTargeting, JourneyTargeting.journey_id == UpliftPrediction.journey_id)
            .where(
                JourneyTargeting.enabled.is_(True),
                in_values(session, UpliftPrediction.customer_id, customer_ids),
            )
        )
    }


def skipped_by_targeting(uplift: float | None) -> bool:
    """Whether a customer with this predicted uplift (``None``: the journey does not target,
    or has no prediction for them) is skipped: predicted none, or less."""
    return uplift is not None and uplift <= 0
