"""The "What each action earned" page: per journey, the holdout comparison (incremental
revenue with its CI, MDE, SRM, decision) with attribution next to it, per message, and
the loyalty program's ROI. The numbers are the API's: the reports the worker computed
and stored (:mod:`recompra.measurement.reports`); the view only reads them, and shows
an out-of-date one with its age while the worker catches up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from recompra.measurement.reports import ROI, UPLIFT, StoredReport, page_specs, read_reports
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


def _status(reports: list[StoredReport | None]) -> tuple[str, datetime | None]:
    """``pending`` while a report was never computed, else ``updating`` while one is out
    of date, else ``current``; and the oldest report's time."""
    stored = [report for report in reports if report is not None]
    oldest = min((report.computed_at for report in stored), default=None)
    if len(stored) < len(reports):
        return "pending", oldest
    return ("current" if all(report.current for report in stored) else "updating"), oldest


@router.get("/dashboard/measurement", response_class=HTMLResponse)
def measurement(request: Request) -> HTMLResponse:
    """Incremental revenue per journey and message, and the loyalty program's ROI."""
    rate = request.app.state.settings.point_value_minor_per_1000
    with read_unit(request) as session:
        page = build_page(request, session, "measurement")
        reports = read_reports(
            session,
            brand_id=page.brand.id,
            specs=page_specs(point_value_minor_per_1000=rate),
            now=datetime.now(UTC),
        )
    uplift, roi = reports[UPLIFT], reports[ROI]
    journeys = uplift.payload["journeys"] if uplift else []
    status, computed_at = _status([uplift, roi])
    return render(
        page,
        "measurement.html",
        uplift=uplift.payload if uplift else None,
        journeys=journeys,
        nodes=_nodes(journeys),
        segments=_segments(journeys),
        roi=roi.payload if roi else None,
        status=status,
        computed_at=computed_at,
        srm_alarm=SRM_ALARM,
    )
