"""What each action earned: per-journey uplift (holdout, intention to treat) with 95%
CIs, the MDE panel and the SRM check, attribution next to it, and the loyalty program's
ROI. Reading needs the ``read`` scope. Money is in integer minor units (centavos);
every estimate carries ``ci_low``/``ci_high`` (``null`` where it cannot be computed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from recompra.api.deps import OneHopRoute, ReadBrand, ReadSession
from recompra.api.errors import AUTH_ERRORS, error_responses
from recompra.measurement.cache import cached_roi_report, cached_uplift_report
from recompra.measurement.loyalty_roi import RoiSettings
from recompra.measurement.uplift import WINDOW_DAYS, Settings

router = APIRouter(prefix="/v1/measurement", tags=["measurement"], route_class=OneHopRoute)

_ERRORS = error_responses(400, *AUTH_ERRORS, 404)


@router.get("/uplift", operation_id="measurement_uplift", responses=_ERRORS)
def uplift(
    brand: ReadBrand,
    session: ReadSession,
    journey: Annotated[
        str | None, Query(max_length=64, description="Only this journey key")
    ] = None,
    window_days: Annotated[
        int, Query(ge=1, le=365, description="Days after entry an order counts")
    ] = WINDOW_DAYS,
) -> dict[str, Any]:
    """Per journey and send node: eligible per arm, conversion, revenue per eligible,
    incremental orders and revenue with 95% CIs, MDE, SRM p-value, decision, and the
    last-touch attribution and response rate next to them."""
    return cached_uplift_report(
        session,
        brand_id=brand.id,
        now=datetime.now(UTC),
        journey_key=journey,
        settings=Settings(window_days=window_days),
    )


@router.get("/loyalty-roi", operation_id="measurement_loyalty_roi", responses=_ERRORS)
def loyalty_roi(
    request: Request,
    brand: ReadBrand,
    session: ReadSession,
    post_days: Annotated[int, Query(ge=1, le=730, description="Days after enrolment")] = 180,
    margin_rate: Annotated[float, Query(gt=0, le=1, description="Gross margin rate")] = 0.30,
) -> dict[str, Any]:
    """The loyalty program's ROI: members against matched non-members (observational),
    points liability, redemption cost and rate, incremental margin per point."""
    # Points are valued as the dashboard values them (RECOMPRA_POINT_VALUE_MINOR_PER_1000).
    settings = RoiSettings(
        post_days=post_days,
        margin_rate=margin_rate,
        point_value_minor_per_1000=request.app.state.settings.point_value_minor_per_1000,
    )
    return cached_roi_report(session, brand_id=brand.id, settings=settings)
