"""The loyalty page: points issued, redeemed and owed (in points and in money), tiers,
rewards, the latest redemptions, program analytics (rates, liability as of now, CLTV by
tier) and engagement (challenges, quizzes, referrals)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from recompra.config import Settings
from recompra.loyalty.analytics import program_analytics
from recompra.loyalty.programs import active_program_for_brand
from recompra.loyalty.valuation import points_value_minor
from recompra.models.base import utcnow
from recompra.reads import loyalty as lq
from recompra.reads.engagement import engagement_overview
from recompra.reads.loyalty_redemptions import count_redemptions, recent_redemptions
from recompra.web.context import build_page, read_unit
from recompra.web.views.common import render

router = APIRouter(include_in_schema=False)

REDEMPTION_ROWS = 20


@router.get("/dashboard/loyalty", response_class=HTMLResponse)
def loyalty(request: Request) -> HTMLResponse:
    """Points issued, redeemed and outstanding; tiers; rewards; redemptions."""
    settings: Settings = request.app.state.settings
    with read_unit(request) as session:
        page = build_page(request, session, "loyalty")
        program = active_program_for_brand(session, brand_id=page.brand.id)
        if program is None:
            return render(page, "loyalty.html", program=None)
        totals = lq.program_totals(session, program=program)
        tiers = lq.tiers_with_members(session, program=program)
        rewards = lq.rewards(session, program=program)
        redemptions = recent_redemptions(session, program=program, limit=REDEMPTION_ROWS)
        redemptions_total = count_redemptions(session, program=program)
        engagement = engagement_overview(session, program_id=program.id)
        analytics = program_analytics(
            session,
            program_id=program.id,
            now=utcnow(),
            point_value_minor_per_1000=settings.point_value_minor_per_1000,
        )
    in_tiers = sum(t["accounts"] for t in tiers)
    tiers.append(
        {"code": "", "name": page.t("loyalty.no_tier"), "accounts": totals["accounts"] - in_tiers}
    )
    largest = max((t["accounts"] for t in tiers), default=0) or 1
    rate = settings.point_value_minor_per_1000
    return render(
        page,
        "loyalty.html",
        program=program,
        totals=totals,
        liability_minor=points_value_minor(totals["outstanding"], rate),
        point_value_minor_per_1000=rate,
        tiers=tiers,
        largest=largest,
        rewards=rewards,
        redemptions=redemptions,
        redemptions_total=redemptions_total,
        engagement=engagement,
        analytics=analytics,
        tier_names={t["code"]: t["name"] for t in tiers if t["code"]},
    )
