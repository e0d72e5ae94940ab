"""Uplift targeting of a journey (the model judged on a held-out split and, when its
Qini CI excluded zero, the customers' predicted uplift the send decision reads), and the
measurement reports the worker stores for the dashboard and the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BrandOwned, utcnow


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


class MeasurementReport(BrandOwned, Base):
    """The latest report of one kind (``uplift`` or ``roi``) and settings for a brand, as
    the worker computed it, and the data version it was computed from.

    One row per ``(brand, kind, settings)``, replaced in place when the worker recomputes
    it, so a reader finds it with one indexed lookup.
    """

    __tablename__ = "measurement_reports"
    __table_args__ = (UniqueConstraint("brand_id", "kind", "settings_key"),)

    kind: Mapped[str] = mapped_column(String(16))
    #: The report's settings, canonical JSON (``measurement.reports.settings_key``).
    settings_key: Mapped[str] = mapped_column(String(400))
    #: SHA-256 of the data version the report was computed from.
    data_version: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime] = mapped_column()
    #: When the report would change with no write (an outcome window closing); null for
    #: a report that depends on the data only.
    valid_until: Mapped[datetime | None] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column()
