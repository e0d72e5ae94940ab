"""The six commercial pages in real Chromium at 1366 and 390 px, in pt-BR and en, with
their figures checked against the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from webtest import VIEWPORTS, Server, screenshot, sign_in

from recompra.commercial.deals import move_stage, open_opportunity
from recompra.commercial.okrs import install_templates
from recompra.commercial.refit import fit_lead_scores
from recompra.commercial.spend import write_spend
from recompra.db import make_engine, unit_of_work
from recompra.hub.rejects import EntityCounts
from recompra.models import (
    Brand,
    ForecastBacktest,
    Lead,
    LeadScoreFit,
    MarketingSpend,
    Opportunity,
)
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
            fit_lead_scores(session, brand_id=brand_id, at=datetime.now(UTC))
    engine.dispose()
    return {"leads": 90, "won": 18}


def _db_figures(server: Server) -> dict[str, Any]:
    """What the pages must show, read straight from the database with plain SQL counts."""
    engine = make_engine(server.database_url)
    with unit_of_work(engine, write=False) as session:
        brand_id = session.scalar(select(Brand.id).where(Brand.slug == server.slug))
        won_leads = (
            select(Opportunity.lead_id)
            .where(Opportunity.brand_id == brand_id, Opportunity.status == "won")
            .scalar_subquery()
        )
        figures = {
            "leads": session.scalar(select(func.count()).where(Lead.brand_id == brand_id)),
            "won": session.scalar(
                select(func.count()).where(Lead.brand_id == brand_id, Lead.id.in_(won_leads))
            ),
            "paid_search_leads": session.scalar(
                select(func.count()).where(Lead.brand_id == brand_id, Lead.channel == "paid_search")
            ),
            "b2b_spend": session.scalar(
                select(func.sum(MarketingSpend.amount_minor)).where(
                    MarketingSpend.brand_id == brand_id, MarketingSpend.audience == "b2b"
                )
            ),
            "months": session.scalar(
                select(func.count(func.distinct(ForecastBacktest.month))).where(
                    ForecastBacktest.brand_id == brand_id
                )
            ),
            "fit": session.scalars(
                select(LeadScoreFit)
                .where(LeadScoreFit.brand_id == brand_id)
                .order_by(LeadScoreFit.version.desc())
            ).first(),
        }
    engine.dispose()
    return figures


def _open(tab: Any, server: Server, path: str) -> None:
    tab.goto(server.url + path)
    tab.wait_for_url(f"**{path}")


def _fits_the_screen(tab: Any, viewport: str) -> None:
    width = VIEWPORTS[viewport][0]
    assert tab.evaluate("document.documentElement.scrollWidth") <= width + 1


def _number(text: str, locale: str) -> str:
    """A figure written the locale's way, with "." as the decimal point and no grouping."""
    if locale == "pt-BR":
        return text.replace(".", "").replace(",", ".")
    return text.replace(",", "")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("locale", ["pt-BR", "en"])
def test_commercial_pages(
    tab_at: Any, server: Server, funnel_seeded: dict[str, int], viewport: str, locale: str
) -> None:
    tab = tab_at(viewport)
    sign_in(tab, server, "/dashboard/commercial")
    if locale == "en":
        tab.goto(server.url + "/dashboard/lang?to=en&next=/dashboard/commercial")
        tab.wait_for_url("**/dashboard/commercial")
    column = 0 if locale == "pt-BR" else 1
    db = _db_figures(server)
    assert (db["leads"], db["won"]) == (funnel_seeded["leads"], funnel_seeded["won"])

    # Pipeline: the kanban's won column counts the won deals; the open deal is a card.
    assert tab.locator("h1").first.inner_text() == MESSAGES["commercial.pipeline.title"][column]
    won = tab.locator("[data-stage=won]")
    assert won.locator("[data-stage-count]").inner_text() == str(db["won"])
    assert tab.locator("[data-deal=open-1]").count() == 1
    _fits_the_screen(tab, viewport)
    screenshot(tab, f"{viewport}-{locale}-commercial-pipeline")

    # Funnel: totals and the paid-search row against the database's counts.
    _open(tab, server, "/dashboard/commercial/funnel")
    assert tab.locator("[data-funnel=leads]").inner_text() == str(db["leads"])
    assert tab.locator("[data-funnel=won]").inner_text() == str(db["won"])
    rate = 100 * db["won"] / db["leads"]
    assert _number(tab.locator("[data-funnel=rate]").inner_text(), locale) == f"{rate:.1f}%"
    paid = tab.locator("[data-group=paid_search]")
    assert paid.locator("[data-leads]").inner_text() == str(db["paid_search_leads"])
    tab.locator("[data-by=year]").click()
    tab.wait_for_url("**by=year")
    assert tab.locator("[data-group='2024'] [data-leads]").inner_text() == str(db["leads"])
    _fits_the_screen(tab, viewport)
    screenshot(tab, f"{viewport}-{locale}-commercial-funnel")

    # Forecast: one history row per stored back-test month.
    _open(tab, server, "/dashboard/commercial/forecast")
    assert tab.locator("#history tbody tr").count() == db["months"] > 0
    _fits_the_screen(tab, viewport)
    screenshot(tab, f"{viewport}-{locale}-commercial-forecast")

    # Lead scores: the newest stored fit's version and AUC.
    _open(tab, server, "/dashboard/commercial/leads")
    fit = db["fit"]
    assert fit is not None
    assert _number(tab.locator("[data-fit=auc]").inner_text(), locale) == f"{fit.auc:.3f}"
    assert tab.locator(f"[data-version='{fit.version}']").count() == 1
    assert tab.locator("#top-leads tbody tr").count() > 0
    _fits_the_screen(tab, viewport)
    screenshot(tab, f"{viewport}-{locale}-commercial-leads")

    # CAC: B2B spend is the sum of the stored rows; B2C has none and says so.
    _open(tab, server, "/dashboard/commercial/cac")
    b2b_spend = tab.locator("[data-audience=b2b] [data-cac=spend]").inner_text()
    assert _number(b2b_spend, locale).endswith(f"{db['b2b_spend'] / 100:.2f}")
    b2c = tab.locator("[data-audience=b2c]")
    assert (
        b2c.locator("[data-missing=no_spend]").inner_text()
        == MESSAGES["commercial.missing.no_spend"][column]
    )
    assert b2c.locator("[data-cac=blended]").inner_text() == "—"
    _fits_the_screen(tab, viewport)
    screenshot(tab, f"{viewport}-{locale}-commercial-cac")

    # OKRs and maturity: stage history on every deal but no lost deal: pipeline level 2.
    _open(tab, server, "/dashboard/commercial/okrs")
    assert tab.locator("[data-objective=funil]").count() == 1
    pipeline = tab.locator("[data-dimension=pipeline_forecast]")
    assert pipeline.locator("[data-level]").get_attribute("data-level") == "2"
    _fits_the_screen(tab, viewport)
    screenshot(tab, f"{viewport}-{locale}-commercial-okrs")
