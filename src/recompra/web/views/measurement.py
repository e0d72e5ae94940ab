"""The "What each action earned" page: per journey, the holdout comparison (incremental
revenue with its CI, MDE, SRM, decision) with attribution next to it, per message, and
the loyalty program's ROI. The numbers are the API's (:mod:`recompra.measurement.service`),
computed once per data version (:mod:`recompra.measurement.cache`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from recompra.measurement.cache import cached_roi_report, cached_uplift_report
from recompra.measurement.loyalty_roi import RoiSettings
from recompra.web.context import build_page, read_unit
from recompra.web.views.common import render

router = APIRouter(include_in_schema=False)

#: Below this p-value the arms' sizes do not match the planned split (the usual SRM alarm).
SRM_ALARM = 0.001


def _nodes(journeys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every send node of every journey, with the journey's name for the table."""
    return [
        {**node, "journey": journey}
        for journey in journeys
        for node in journey["nodes"]
        if node["comparison"] is not None
    ]


def _segments(journeys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The campaign response KPI per journey and customer segment, for the table."""
    return [
        {"journey": journey, "segment": segment, "response": response}
        for journey in journeys
        for segment, response in sorted(journey["segments"].items())
    ]


@router.get("/dashboard/measurement", response_class=HTMLResponse)
def measurement(request: Request) -> HTMLResponse:
    """Incremental revenue per journey and message, and the loyalty program's ROI."""
    with read_unit(request) as session:
        page = build_page(request, session, "measurement")
        uplift = cached_uplift_report(session, brand_id=page.brand.id, now=datetime.now(UTC))
        rate = request.app.state.settings.point_value_minor_per_1000
        roi = cached_roi_report(
            session,
            brand_id=page.brand.id,
            settings=RoiSettings(point_value_minor_per_1000=rate),
        )
    return render(
        page,
        "measurement.html",
        uplift=uplift,
        nodes=_nodes(uplift["journeys"]),
        segments=_segments(uplift["journeys"]),
        roi=roi,
        srm_alarm=SRM_ALARM,
    )
