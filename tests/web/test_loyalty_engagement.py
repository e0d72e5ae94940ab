"""The loyalty page's engagement section in real Chromium: 1366 and 390 px, pt-BR and en."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from webtest import VIEWPORTS, Server, screenshot, sign_in

from recompra.db import make_engine, unit_of_work
from recompra.loyalty.challenges.definitions import define_badge, define_challenge
from recompra.loyalty.programs import active_program_for_brand
from recompra.loyalty.quizzes.service import Question, attempt_quiz, define_quiz
from recompra.loyalty.referrals.service import claim_referral, configure_referrals, referral_code
from recompra.models import Brand, BrandCustomer, Customer

pytestmark = pytest.mark.browser

NOW = datetime(2025, 6, 10, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def engagement(server: Server) -> dict[str, int]:
    """Brand A's program gets a challenge, a quiz taken twice and three referral claims."""
    engine = make_engine(server.database_url)
    try:
        with unit_of_work(engine) as s:
            brand_id = s.scalars(select(Brand.id).where(Brand.slug == server.slug)).one()
            program = active_program_for_brand(s, brand_id=brand_id)
            assert program is not None
            define_badge(s, program_id=program.id, code="fiel", name="Cliente fiel")
            define_challenge(
                s, program_id=program.id, code="tri", name="Três meses seguidos",
                kind="streak", metric="orders", target=3, reward_points=300, badge_code="fiel",
            )  # fmt: skip
            define_quiz(
                s, program_id=program.id, code="marca", title="Conheça a marca",
                questions=[Question("Prazo de troca?", ("7 dias", "90 dias"), 0)],
                pass_mark=1, reward_points=50,
            )  # fmt: skip
            members = s.scalars(
                select(BrandCustomer.customer_id)
                .where(BrandCustomer.brand_id == brand_id)
                .order_by(BrandCustomer.customer_id)
                .limit(2)
            ).all()
            for customer_id, answer in zip(members, (0, 1), strict=True):
                attempt_quiz(
                    s, program_id=program.id, customer_id=customer_id, quiz_code="marca",
                    answers=[answer], now=NOW,
                )  # fmt: skip
            configure_referrals(s, program_id=program.id, referrer_points=100, friend_points=40)
            code = referral_code(s, program_id=program.id, customer_id=members[0], now=NOW)
            friend = Customer(name="Bia Nova")
            s.add(friend)
            s.flush()
            s.add(BrandCustomer(brand_id=brand_id, customer_id=friend.id))
            for claimant in (members[0], members[1], friend.id):
                claim_referral(s, program_id=program.id, code=code, friend_id=claimant, now=NOW)
    finally:
        engine.dispose()
    # What was seeded: 2 attempts, 1 passed; claims: self-referral and an existing
    # customer refused, the new friend waiting for a first order.
    return {"attempts": 2, "passed": 1, "claims": 3, "waiting": 1}


EXPECTED = {
    "pt-BR": {
        "goal": "3 meses seguidos",
        "rate": "50,0%",
        "reasons": {"self_referral": "autoindicação", "existing_customer": "já era cliente"},
        "title": "Engajamento além dos pontos",
    },
    "en": {
        "goal": "3 months in a row",
        "rate": "50.0%",
        "reasons": {"self_referral": "self-referral", "existing_customer": "already a customer"},
        "title": "Engagement beyond points",
    },
}


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("locale", ["pt-BR", "en"])
def test_engagement_section_shows_each_mechanic(
    tab_at: Any, server: Server, engagement: dict[str, int], viewport: str, locale: str
) -> None:
    tab = tab_at(viewport)
    sign_in(tab, server)
    if locale == "en":
        tab.click("#lang-switch")
        tab.wait_for_url("**/dashboard")
    tab.goto(server.url + "/dashboard/loyalty")
    expected = EXPECTED[locale]
    section = tab.locator("#engagement")
    assert section.locator("h2").inner_text() == expected["title"]
    challenge = section.locator("tr[data-challenge=tri]")
    assert expected["goal"] in challenge.inner_text()
    assert challenge.locator("[data-completions]").inner_text() == "0"
    quiz_cells = section.locator("tr[data-quiz=marca] td").all_inner_texts()
    assert quiz_cells[1:] == [
        str(engagement["attempts"]),
        str(engagement["passed"]),
        expected["rate"],
    ]
    assert section.locator("[data-referrals=claims]").inner_text() == str(engagement["claims"])
    assert section.locator("[data-referrals=waiting]").inner_text() == str(engagement["waiting"])
    for reason, label in expected["reasons"].items():
        assert section.locator(f"tr[data-rejection={reason}] td").first.inner_text() == label
    # The section fits the viewport: no horizontal scrolling of the page.
    assert tab.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport][0] + 1
    section.scroll_into_view_if_needed()
    screenshot(tab, f"{viewport}-{locale}-loyalty-engagement")
