"""What each action earned: per-journey uplift (holdout, intention to treat) with 95%
CIs, the MDE panel and the SRM check, attribution next to it, and the loyalty program's
ROI. Reading needs the ``read`` scope. Money is in integer minor units (centavos);
every estimate carries ``ci_low``/``ci_high`` (``null`` where it cannot be computed).

With the default parameters the endpoints answer the report the worker stored (the
dashboard's, :mod:`recompra.measurement.reports`) with ``computed_at`` and ``updating``
(true while the data changed since and the worker catches up), and 409
``report_pending`` before the first one is stored. Other parameters are an analysis of
their own, computed for the request as the CLI does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from recompra.api.deps import OneHopRoute, ReadBrand, ReadSession
from recompra.api.errors import AUTH_ERRORS, error_responses
from recompra.measurement.loyalty_roi import RoiSettings
from recompra.measurement.reports import (
    ReportPending,
    ReportSpec,
    read_reports,
    roi_spec,
    uplift_spec,
)
from recompra.measurement.service import require_journey, roi_report, uplift_report
from recompra.measurement.uplift import WINDOW_DAYS, Settings

router = APIRouter(prefix="/v1/measurement", tags=["measurement"], route_class=OneHopRoute)

_ERRORS = error_responses(400, *AUTH_ERRORS, 404, 409)


def _stored(session: Session, brand_id: int, spec: ReportSpec) -> dict[str, Any]:
    """The stored report of ``spec`` with its age, or 409 ``report_pending``."""
    report = read_reports(session, brand_id=brand_id, specs=(spec,), now=datetime.now(UTC))[
        spec.kind
    ]
    if report is None:
        raise ReportPending("the report is being computed; try again in a few minutes")
    return {
        **report.payload,
        "computed_at": report.computed_at.isoformat(),
        "updating": not report.current,
    }


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
    settings = Settings(window_days=window_days)
    if settings != Settings():
        return uplift_report(
            session,
            brand_id=brand.id,
            now=datetime.now(UTC),
            journey_key=journey,
            settings=settings,
        )
    if journey is not None:
        require_journey(session, brand_id=brand.id, journey_key=journey)
    report = _stored(session, brand.id, uplift_spec())
    if journey is not None:
        # Each journey's figures do not depend on the others' (attribution is computed
        # over the brand's messages either way): the stored report's entry is the one.
        report["journeys"] = [j for j in report["journeys"] if j["key"] == journey]
    return report


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
    rate = request.app.state.settings.point_value_minor_per_1000
    spec = roi_spec(point_value_minor_per_1000=rate)
    settings = RoiSettings(
        post_days=post_days, margin_rate=margin_rate, point_value_minor_per_1000=rate
    )
    if settings != spec.settings:
        return roi_report(session, brand_id=brand.id, settings=settings)
    return _stored(session, brand.id, spec)
