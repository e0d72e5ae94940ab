"""Uplift targeting of a journey: the model judged on a held-out split and, when its
Qini CI excluded zero, the customers' predicted uplift the send decision reads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, utcnow


class JourneyTargeting(Base):
    """A journey's targeting switch. ``enabled`` only when the fitted model's Qini 95% CI
    lay above zero; the send decision then skips customers predicted not to respond."""

    __tablename__ = "journey_targeting"

    journey_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("journeys.id"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    model: Mapped[str | None] = mapped_column(String(32))
    qini: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    #: Why targeting stays off (``ranking_not_better_than_random`` ...), else null.
    reason: Mapped[str | None] = mapped_column(String(64))
    fitted_at: Mapped[datetime] = mapped_column(default=utcnow)


class UpliftPrediction(Base):
    """A customer's predicted uplift (treated minus holdout response probability) for a
    journey, from the model its targeting row names."""

    __tablename__ = "uplift_predictions"

    journey_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("journeys.id"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id"), primary_key=True
    )
    uplift: Mapped[float] = mapped_column(Float)
