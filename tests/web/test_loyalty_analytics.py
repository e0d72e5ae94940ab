"""The loyalty page's program analytics in real Chromium: 1366 and 390 px, pt-BR and en.

The expected figures are recomputed here in plain Python from the raw lot and redemption
rows of the shared server's program, read just before the page loads.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from webtest import VIEWPORTS, Server, screenshot, sign_in

from recompra.db import make_engine, unit_of_work
from recompra.loyalty.programs import active_program_for_brand
from recompra.models import Brand, LoyaltyAccount, LoyaltyLot, LoyaltyRedemption
from recompra.models.base import utcnow

pytestmark = pytest.mark.browser

TITLES = {"pt-BR": "Indicadores do programa", "en": "Program analytics"}


def _expected(server: Server) -> dict[str, Any]:
    """Redemption rate, breakage and liability from the raw rows, as of now."""
    engine = make_engine(server.database_url)
    try:
        with unit_of_work(engine, write=False) as s:
            brand_id = s.scalars(select(Brand.id).where(Brand.slug == server.slug)).one()
            program = active_program_for_brand(s, brand_id=brand_id)
            assert program is not None
            accounts = select(LoyaltyAccount.id).where(LoyaltyAccount.program_id == program.id)
            lots = s.execute(
                select(LoyaltyLot.points, LoyaltyLot.reversed_points, LoyaltyLot.expired_points,
                       LoyaltyLot.remaining, LoyaltyLot.state, LoyaltyLot.expires_at)
                .where(LoyaltyLot.account_id.in_(accounts))
            ).all()  # fmt: skip
            redeemed = sum(
                s.scalars(
                    select(LoyaltyRedemption.points).where(
                        LoyaltyRedemption.account_id.in_(accounts),
                        LoyaltyRedemption.status == "issued",
                    )
                )
            )
    finally:
        engine.dispose()
    now = utcnow()
    issued = sum(points - reversed_ for points, reversed_, *_ in lots)
    expired = sum(
        expired_ + (remaining if state == "active" and expires_at <= now else 0)
        for _, _, expired_, remaining, state, expires_at in lots
    )
    liability = sum(
        remaining
        for *_, remaining, state, expires_at in lots
        if state == "pending" or (state == "active" and expires_at > now)
    )
    return {"redemption_rate": redeemed / issued, "breakage": expired / issued,
            "liability": liability}  # fmt: skip


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("locale", ["pt-BR", "en"])
def test_program_analytics_match_the_ledger(
    tab_at: Any, server: Server, viewport: str, locale: str
) -> None:
    tab = tab_at(viewport)
    sign_in(tab, server)
    if locale == "en":
        tab.click("#lang-switch")
        tab.wait_for_url("**/dashboard")
    expected = _expected(server)
    tab.goto(server.url + "/dashboard/loyalty")
    section = tab.locator("#loyalty-analytics")
    assert section.locator("h2").inner_text() == TITLES[locale]
    for key in ("redemption_rate", "breakage"):
        shown = section.locator(f"[data-analytics={key}]")
        assert float(shown.get_attribute("data-value") or "nan") == pytest.approx(expected[key])
        assert shown.inner_text().endswith("%")
        assert ("," in shown.inner_text()) == (locale == "pt-BR")
    liability = section.locator("[data-analytics=liability_points]").inner_text()
    assert int(liability.replace(".", "").replace(",", "")) == expected["liability"]
    money = section.locator("[data-analytics=liability_minor]").inner_text()
    assert money.startswith("R$")
    assert section.locator("tr[data-cltv-tier]").count() >= 1
    # No English left on the pt-BR page's section, and no horizontal scrolling.
    if locale == "pt-BR":
        text = section.inner_text()
        for english in ("Redemption", "Breakage\n", "Liability", "Members", "Tier"):
            assert english not in text
    assert tab.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport][0] + 1
    section.scroll_into_view_if_needed()
    screenshot(tab, f"{viewport}-{locale}-loyalty-analytics")
