"""The commercial page in real Chromium at 1366 and 390 px, in pt-BR and en."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from webtest import VIEWPORTS, Server, screenshot, sign_in

from recompra.commercial.deals import move_stage, open_opportunity
from recompra.commercial.okrs import install_templates
from recompra.commercial.spend import write_spend
from recompra.db import make_engine, unit_of_work
from recompra.hub.rejects import EntityCounts
from recompra.models import Brand, Lead
from recompra.reads.commercial import forecast_report
from recompra.web.i18n import MESSAGES

pytestmark = pytest.mark.browser

CHANNELS = ("paid_search", "organic_search", "social")


@pytest.fixture(scope="module")
def funnel_seeded(server: Server) -> dict[str, int]:
    """Brand A gets 90 leads over six months, 18 won deals, an open deal, spend and OKRs."""
    engine = make_engine(server.database_url)
    with unit_of_work(engine) as session:
        brand_id = session.scalar(select(Brand.id).where(Brand.slug == server.slug))
        assert brand_id is not None
        if not session.scalar(select(func.count()).where(Lead.brand_id == brand_id)):
            for n in range(90):
                first = date(2024, 1 + n % 6, 1 + n % 27)
                lead = Lead(
                    brand_id=brand_id,
                    source="test",
                    external_id=f"lead-{n}",
                    channel=CHANNELS[n % 3],
                    landing_page=f"page-{n % 4}",
                    first_contact_on=first,
                )
                session.add(lead)
                session.flush()
                if n % 5 == 0:
                    at = datetime(first.year, first.month, first.day, 12, tzinfo=UTC)
                    opp = open_opportunity(
                        session,
                        brand_id=brand_id,
                        external_id=f"deal-{n}",
                        lead_id=lead.id,
                        amount_minor=100_000,
                        at=at,
                    )
                    move_stage(
                        session,
                        brand_id=brand_id,
                        opportunity_id=opp.id,
                        stage_key="won",
                        at=at + timedelta(days=10 + n),
                    )
            open_opportunity(
                session,
                brand_id=brand_id,
                external_id="open-1",
                amount_minor=250_000,
                at=datetime(2024, 6, 1, tzinfo=UTC),
            )
            write_spend(
                session,
                brand_id=brand_id,
                counts=EntityCounts(),
                rows=[
                    {
                        "month": date(2024, m, 1),
                        "channel": "paid_search",
                        "audience": "b2b",
                        "amount_minor": 300_000,
                        "paid": True,
                        "currency": "BRL",
                    }
                    for m in range(1, 7)
                ],
            )
            install_templates(session, brand_id=brand_id)
            forecast_report(session, brand_id=brand_id, run_backtest=True, at=datetime.now(UTC))
    engine.dispose()
    return {"leads": 90, "won": 18}


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("locale", ["pt-BR", "en"])
def test_commercial_page_shows_every_section(
    tab_at: Any, server: Server, funnel_seeded: dict[str, int], viewport: str, locale: str
) -> None:
    tab = tab_at(viewport)
    sign_in(tab, server, "/dashboard/commercial")
    if locale == "en":
        tab.goto(server.url + "/dashboard/lang?to=en&next=/dashboard/commercial")
        tab.wait_for_url("**/dashboard/commercial")
    column = 0 if locale == "pt-BR" else 1
    assert tab.locator("h1").first.inner_text() == MESSAGES["commercial.title"][column]
    assert tab.locator("[data-funnel=leads]").inner_text() == str(funnel_seeded["leads"])
    assert tab.locator("[data-funnel=won]").inner_text() == str(funnel_seeded["won"])
    # 18 of 90 leads converted: 20%, written the locale's way.
    assert tab.locator("[data-funnel=rate]").inner_text().replace(",", ".") == "20.0%"
    assert tab.locator("[data-channel=paid_search]").count() == 1
    won_stage = tab.locator("[data-stage=won] td").nth(1).inner_text()
    assert won_stage == str(funnel_seeded["won"])
    assert tab.locator("#forecast table tbody tr").count() > 0
    # B2C has no spend: the tile says so instead of a zero CAC.
    b2c = tab.locator("[data-audience=b2c]")
    assert (
        b2c.locator("[data-missing=no_spend]").inner_text()
        == (MESSAGES["commercial.missing.no_spend"][column])
    )
    assert b2c.locator("[data-cac=blended]").inner_text() == "—"
    assert tab.locator("[data-objective=funil]").count() == 1
    # Stage history on every deal but no lost deal with a reason: level 2, and why.
    pipeline = tab.locator("[data-dimension=pipeline_forecast]")
    assert pipeline.locator("[data-level]").get_attribute("data-level") == "2"
    width = VIEWPORTS[viewport][0]
    assert tab.evaluate("document.documentElement.scrollWidth") <= width + 1
    screenshot(tab, f"{viewport}-{locale}-commercial")
