"""The voice-of-the-customer page in real Chromium, at desktop and phone widths, in pt-BR and
English: the tiles say "proxy", and the numbers are those of the API."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from webtest import VIEWPORTS, Server, screenshot, sign_in

from recompra.db import make_engine, unit_of_work
from recompra.formatting import format_number
from recompra.models import Brand
from recompra.models.voc import SurveyAnswer, SurveySend

pytestmark = pytest.mark.browser

HEADINGS = {"pt-BR": "Voz do cliente", "en": "Voice of the customer"}


def _survey_scores(server: Server) -> list[int]:
    """Every stored NPS survey answer of the signed-in user's brand (the test's brand A)."""
    engine = make_engine(server.database_url)
    try:
        with unit_of_work(engine, write=False) as session:
            slug_brand = select(Brand.id).where(Brand.slug == server.slug).scalar_subquery()
            return list(
                session.scalars(
                    select(SurveyAnswer.score)
                    .join(SurveySend, SurveySend.id == SurveyAnswer.send_id)
                    .where(SurveySend.brand_id == slug_brand, SurveySend.kind == "nps")
                )
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("locale", list(HEADINGS))
def test_voc_page_shows_the_api_numbers(
    browser: Any, server: Server, viewport: str, locale: str
) -> None:
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=viewport == "phone"
    )
    tab = context.new_page()
    try:
        sign_in(tab, server)
        tab.goto(f"{server.url}/dashboard/lang?to={locale}&next=/dashboard/voc")
        tab.wait_for_url("**/dashboard/voc")
        assert tab.locator("h1").inner_text() == HEADINGS[locale]
        body = server.api("/v1/voc/nps?by=month")
        nps = body["overall"]["nps"]
        tile = tab.locator("#voc-nps")
        assert "proxy" in tile.inner_text()
        assert float(tab.locator("[data-voc=nps]").get_attribute("data-value")) == pytest.approx(
            nps["score"]
        )
        assert tab.locator("[data-voc=nps]").inner_text() == format_number(nps["score"], locale, 1)
        assert int(tab.locator("[data-voc=nps-n]").get_attribute("data-value")) == nps["n"]
        # The NPS survey answers (seeded, plus any another test of this server posted):
        # the real NPS, shown beside the proxy, computed here from the stored scores.
        scores = _survey_scores(server)
        expected = 100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores)
        surveys = body["surveys"]
        assert (surveys["proxy"], surveys["n"]) == (False, len(scores))
        assert surveys["score"] == pytest.approx(expected)
        real = tab.locator("[data-voc=nps-surveys]")
        assert real.inner_text() == format_number(expected, locale, 1)
        assert "proxy" not in tab.locator("#voc-nps-surveys").inner_text()
        for margin, needed in nps["responses_needed"].items():
            cell = tab.locator(f"[data-margin='{margin.lstrip('±')}']")
            assert cell.inner_text() == format_number(needed, locale)
        assert tab.locator("tr[data-month]").count() == len(body["groups"])
        delivery = server.api("/v1/voc/delivery")
        assert tab.locator("tr[data-delivery]").count() == len(delivery["statuses"])
        topics = server.api("/v1/voc/topics")
        assert tab.locator("tr[data-topic]").count() == len(topics["topics"])
        screenshot(tab, f"{viewport}-{locale}-voc")
        page_width = tab.evaluate("document.documentElement.scrollWidth")
        assert page_width <= width + 1
    finally:
        context.close()
