"""What the CLI, the API and the dashboard call: the reports as plain JSON-ready data.

Every estimate keeps its ``ci_low``/``ci_high``; a figure that cannot be computed (NaN)
becomes ``null`` rather than a number that is not one.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.errors import NotFound
from recompra.measurement.loyalty_roi import RoiSettings, empty_report, loyalty_roi
from recompra.measurement.uplift import Settings, journey_uplift
from recompra.models import Order
from recompra.models.automation import Journey
from recompra.snapshot.as_of import as_of_cutoff
from recompra.snapshot.schema import NON_PURCHASE_STATUSES


def to_plain(value: Any) -> Any:
    """Dataclasses, lists and dicts as JSON values; NaN and infinities become ``None``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def require_journey(session: Session, *, brand_id: int, journey_key: str) -> None:
    """Raise :class:`NotFound` unless the brand has a journey ``journey_key``."""
    if (
        session.scalar(
            select(Journey.id).where(Journey.brand_id == brand_id, Journey.key == journey_key)
        )
        is None
    ):
        raise NotFound(f"journey {journey_key!r} not found", field="journey")


def uplift_report(
    session: Session,
    *,
    brand_id: int,
    now: datetime,
    journey_key: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The uplift report of the brand's journeys (or one), as JSON-ready data."""
    if journey_key is not None:
        require_journey(session, brand_id=brand_id, journey_key=journey_key)
    settings = settings or Settings()
    journeys = journey_uplift(
        session, brand_id=brand_id, now=now, journey_key=journey_key, settings=settings
    )
    return {
        "generated_at": now.isoformat(),
        "window_days": settings.window_days,
        "target_relative_mde": settings.target_relative_mde,
        "attribution_windows_days": {
            name: window.total_seconds() / 86_400
            for name, window in dataclasses.asdict(settings.attribution).items()
        },
        "journeys": to_plain(journeys),
    }


def last_purchase_cutoff(session: Session, *, brand_id: int) -> datetime | None:
    """The end of the brand's last purchase day (the as-of rule), ``None`` without orders."""
    last = session.scalar(
        select(func.max(Order.purchased_at)).where(
            Order.brand_id == brand_id, Order.status.not_in(NON_PURCHASE_STATUSES)
        )
    )
    return None if last is None else as_of_cutoff(last.date())


def roi_report(
    session: Session,
    *,
    brand_id: int,
    now: datetime | None = None,
    settings: RoiSettings | None = None,
) -> dict[str, Any]:
    """The loyalty program's ROI as JSON-ready data, as of ``now`` (default: the end of
    the last purchase day, so history imported from the past is measured in its time)."""
    as_of = now or last_purchase_cutoff(session, brand_id=brand_id)
    if as_of is None:
        return {"as_of": None, **to_plain(empty_report("no_orders", settings or RoiSettings()))}
    report = loyalty_roi(session, brand_id=brand_id, now=as_of, settings=settings)
    return {"as_of": as_of.isoformat(), **to_plain(report)}
