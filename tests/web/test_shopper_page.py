"""Issue 19's "done when" on the shopper's page, in Chromium at 390 px (pt-BR) with a
1366 px screenshot in English.

Through the API and the page: Ana completes a 3-month streak challenge (its badge opens an
event seat), passes a quiz, refers Bia whose first order releases both rewards after the
return window, and redeems the event seat; Carla and Davi, buyers of one company
account, pool their points and the account reaches a tier; the program is a coalition
that earned in brand A and B, and Ana redeems at brand B with the cost allocated to the
brands her spent points came from. Every figure the test expects is computed here from
the amounts it wrote (1 point per R$ 1, brand B at 50 %).
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine
from test_portuguese_pages import ISO_DATE, KNOWN_LEAKS, MESSAGE_ID, english_fragments, visible_text
from webtest import VIEWPORTS, Server, screenshot

from recompra.auth.keys import create_api_key
from recompra.db import make_engine, unit_of_work
from recompra.hub.accounts import add_buyer, create_account
from recompra.hub.customers import personal_identity
from recompra.loyalty import create_program, create_reward, define_tier, publish_rules
from recompra.loyalty.challenges.definitions import define_from_document
from recompra.loyalty.coalition import join_coalition
from recompra.loyalty.experiences.service import define_experience
from recompra.loyalty.quizzes.service import Question, define_quiz
from recompra.loyalty.referrals.service import configure_referrals
from recompra.models import Brand, BrandCustomer, Customer, CustomerIdentity, Order, OrderItem
from recompra.models.engagement import EngagementReferral
from shopworld import mailed_link

_seq = itertools.count(1)
WINDOW_DAYS = 7
ORDER_MINOR = 10_000  # R$ 100.00 -> 100 points at brand A, 50 at brand B


@dataclass
class Story:
    """The brands, people and keys of the scenario."""

    engine: Engine
    slug_a: str
    slug_b: str
    brand_a: int
    brand_b: int
    program: int
    admin_key: str
    loyalty_key: str
    people: dict[str, tuple[int, str]]


def _person(s: Any, name: str, brands: list[int]) -> tuple[int, str]:
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:6]}@example.com"
    customer = Customer(name=name, email=email, locale="pt-BR")
    s.add(customer)
    s.flush()
    for brand in brands:
        kind, source, value = personal_identity(brand, "email", email)
        s.add(CustomerIdentity(customer_id=customer.id, kind=kind, source=source, value=value))
        s.add(BrandCustomer(brand_id=brand, customer_id=customer.id))
    return customer.id, email


def _order(
    engine: Engine, brand: int, customer: int, at: datetime, amount: int = ORDER_MINOR
) -> int:
    with unit_of_work(engine) as s:
        order = Order(
            brand_id=brand,
            source="test",
            external_id=uuid.uuid4().hex,
            customer_id=customer,
            status="approved",
            purchased_at=at,
            items_total_minor=amount,
            total_minor=amount,
        )
        s.add(order)
        s.flush()
        s.add(
            OrderItem(
                order_id=order.id,
                line_number=1,
                quantity=1,
                unit_price_minor=amount,
                total_minor=amount,
            )
        )
        return order.id


def _story(server: Server) -> Story:
    engine = make_engine(server.database_url)
    n = next(_seq)
    with unit_of_work(engine) as s:
        a = Brand(slug=f"aurora-{uuid.uuid4().hex[:6]}", name="Aurora")
        b = Brand(slug=f"brisa-{uuid.uuid4().hex[:6]}", name=f"Brisa {n}")
        s.add_all([a, b])
        s.flush()
        program = create_program(
            s, brand_id=a.id, name="Clube Aurora", return_window_days=WINDOW_DAYS
        )
        publish_rules(
            s,
            program_id=program.id,
            rules=[{"type": "base", "points_per_unit": 1}],
            effective_from=datetime(2000, 1, 1, tzinfo=UTC),
        )
        join_coalition(s, program_id=program.id, brand_id=b.id, earn_rate_pct=50)
        define_tier(
            s, program_id=program.id, code="empresa", name="Empresa Ouro", rank=2,
            metric="points", threshold=1_500,
        )  # fmt: skip
        define_tier(
            s, program_id=program.id, code="prata", name="Prata", rank=1,
            metric="points", threshold=1_000,
        )  # fmt: skip
        define_from_document(
            s,
            program_id=program.id,
            document={
                "badges": [{"code": "fiel", "name": "Cliente fiel"}],
                "challenges": [
                    {"code": "trimestre", "name": "Uma compra por mês", "kind": "streak",
                     "metric": "orders", "target": 3, "reward_points": 300, "badge_code": "fiel"}
                ],
            },
        )  # fmt: skip
        define_quiz(
            s,
            program_id=program.id,
            code="marca",
            title="Conheça a Aurora",
            questions=[
                Question("Qual o prazo de troca?", ("7 dias", "90 dias"), 1),
                Question("O frete é grátis acima de?", ("R$ 99", "R$ 199"), 0),
            ],
            pass_mark=2,
            reward_points=50,
            reward_coupon="10% na próxima compra",
        )
        configure_referrals(s, program_id=program.id, referrer_points=100, friend_points=40)
        define_experience(
            s,
            program_id=program.id,
            code="pre-estreia",
            name="Pré-estreia da coleção",
            kind="event_seat",
            cost_points=200,
            capacity=20,
            badge_code="fiel",
            happens_at=datetime.now(UTC) + timedelta(days=30),
        )
        create_reward(s, program_id=program.id, code="vale", name="Vale R$ 10", cost_points=100)
        people = {
            "ana": _person(s, "Ana Souza", [a.id, b.id]),
            "bia": _person(s, "Bia Lima", [a.id]),
            "carla": _person(s, "Carla Dias", [a.id]),
            "davi": _person(s, "Davi Rocha", [a.id]),
        }
        company = create_account(s, brand_id=a.id, name="Ateliê Dias Ltda", free_shipping=True)
        add_buyer(
            s, brand_id=a.id, account_id=company.id, customer_id=people["carla"][0], role="owner"
        )
        add_buyer(
            s, brand_id=a.id, account_id=company.id, customer_id=people["davi"][0], role="buyer"
        )
        _, admin = create_api_key(s, scopes=["admin"], brand_id=a.id)
        _, loyalty = create_api_key(s, scopes=["loyalty", "read"], brand_id=a.id)
        story = Story(engine, a.slug, b.slug, a.id, b.id, program.id, admin, loyalty, people)
    return story


def _api(server: Server, method: str, path: str, key: str | None = None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.request(method, server.url + path, headers=headers, timeout=30, **kw)
    assert response.status_code < 300, (path, response.status_code, response.text)
    return response.json() if response.content else None


def _sign_in(tab: Any, server: Server, story: Story, slug: str, who: str) -> None:
    customer, email = story.people[who]
    tab.goto(f"{server.url}/shop/{slug}")
    tab.fill("input[name=email]", email)
    tab.click("#shopper-send")
    tab.wait_for_selector('[data-shopper="sent"]')
    tab.goto(server.url + mailed_link(story.engine, customer))
    tab.click("#shopper-enter")
    tab.wait_for_selector('[data-section="points"]')


def _api_session(server: Server, story: Story, slug: str, who: str) -> str:
    customer, email = story.people[who]
    _api(server, "POST", "/v1/shopper/sign-in", json={"brand": slug, "email": email})
    opened = _api(
        server,
        "POST",
        "/v1/shopper/sessions",
        json={"brand": slug, "token": mailed_link(story.engine, customer).rsplit("/", 1)[1]},
    )
    return str(opened["token"])


def _streak_dates(now: datetime) -> list[datetime]:
    """An order in this month (within the last hour: still in its return window) and in
    each of the two months before it (past their windows)."""
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return [
        max(first, now - timedelta(hours=1)),
        first - timedelta(days=10),
        first - timedelta(days=40),
    ]


def test_the_shopper_page_shows_the_whole_loyalty_story(server: Server, tab_at: Any) -> None:
    story = _story(server)
    now = datetime.now(UTC)
    ana, bia = story.people["ana"][0], story.people["bia"][0]
    key = story.loyalty_key
    # 1. Ana buys in three consecutive months at brand A and once at brand B; the store
    #    sends each order to earn (the newest stays pending for the return window).
    streak = [_order(story.engine, story.brand_a, ana, at) for at in _streak_dates(now)]
    in_b = _order(story.engine, story.brand_b, ana, now - timedelta(days=20))
    for order in streak:
        _api(server, "POST", f"/v1/loyalty/orders/{order}/earn", key)
    with unit_of_work(story.engine) as s:
        _, key_b = create_api_key(s, scopes=["loyalty", "read"], brand_id=story.brand_b)
    assert _api(server, "POST", f"/v1/loyalty/orders/{in_b}/earn", key_b)["points"] == 50
    evaluated = _api(server, "POST", f"/v1/loyalty/customers/{ana}/challenges/evaluate", key)
    assert [c["code"] for c in evaluated] == ["trimestre"]
    # 2. On her phone, in Portuguese, Ana signs in with the e-mailed link.
    phone = tab_at("phone")
    _sign_in(phone, server, story, story.slug_a, "ana")
    assert phone.viewport_size["width"] == VIEWPORTS["phone"][0]
    challenge = phone.locator('[data-challenge="trimestre"]')
    assert "3 de 3" in challenge.inner_text()
    assert "Cliente fiel" in phone.locator('[data-section="badges"]').inner_text()
    # Available: the two older streak orders + brand B's 50 + the challenge's 300;
    # pending: this month's order until its return window ends.
    assert phone.locator('[data-points="available"]').inner_text() == "550"
    assert "100 pontos liberados em" in phone.locator('[data-points="pending"]').inner_text()
    # 3. The quiz: both right answers; the pass pays 50 points and a coupon.
    quiz = phone.locator('[data-quiz="marca"]')
    quiz.locator('input[name="q0"][value="1"]').check()
    quiz.locator('input[name="q1"][value="0"]').check()
    quiz.locator("button[type=submit]").click()
    phone.wait_for_selector('[data-notice="quiz_passed"]')
    assert "Seu cupom:" in phone.locator('[data-quiz="marca"]').inner_text()
    assert phone.locator('[data-points="available"]').inner_text() == "600"
    # 4. Ana's referral link; Bia claims the code through the API as a shopper.
    phone.locator('[data-section="referral"] button', has_text="Gerar meu link").click()
    phone.wait_for_selector('[data-referral="code"]')
    code = phone.locator('[data-referral="code"]').inner_text()
    assert f"?ref={code}" in phone.locator('[data-referral="link"]').inner_text()
    bia_token = _api_session(server, story, story.slug_a, "bia")
    claim = _api(server, "POST", "/v1/shopper/referral-claims", bia_token, json={"code": code})
    assert (claim["status"], claim["reason"]) == ("claimed", None)
    # The claim was made 20 days ago and Bia ordered 10 days ago (past the 7-day window):
    # the job holds both rewards, then releases them.
    with unit_of_work(story.engine) as s:
        referral = s.get_one(EngagementReferral, claim["referral_id"])
        referral.created_at = now - timedelta(days=20)
    _order(story.engine, story.brand_a, bia, now - timedelta(days=10))
    held = _api(server, "POST", "/v1/loyalty/referrals/settle", story.admin_key)
    released = _api(server, "POST", "/v1/loyalty/referrals/settle", story.admin_key)
    assert (held["held"], released["released"]) == (1, 1)
    bia_page = _api(server, "GET", "/v1/shopper/me", bia_token)
    assert bia_page["points"]["available"] == 40
    # 5. Ana redeems the event seat her badge opens (200 points).
    phone.reload()
    assert phone.locator('[data-points="available"]').inner_text() == "700"  # +100 referral
    phone.locator('[data-experience="pre-estreia"] button').click()
    phone.wait_for_selector('[data-notice="redeemed"]')
    assert "Pré-estreia da coleção" in phone.locator('[data-section="redeemed"]').inner_text()
    assert phone.locator('[data-points="available"]').inner_text() == "500"
    text = visible_text(phone)
    assert MESSAGE_ID.findall(text) == []
    assert [leak for leak in KNOWN_LEAKS if leak in text] == []
    assert sorted(f for f in english_fragments() if f in text) == []
    assert ISO_DATE.findall(text) == []
    screenshot(phone, "shopper-ana-phone-pt-BR")
    # 6. Coalition: at brand B's page Ana redeems a R$ 10 voucher (100 points).
    _sign_in(phone, server, story, story.slug_b, "ana")
    assert "Aurora" in phone.locator('[data-section="coalition"]').inner_text()
    phone.locator('[data-reward="vale"] button').click()
    phone.wait_for_selector('[data-notice="redeemed"]')
    assert phone.locator('[data-points="available"]').inner_text() == "400"
    report = _api(server, "GET", "/v1/loyalty/coalition", key)
    paid = {row["brand_id"]: row for row in report}
    # Oldest lots first: the seat and the voucher (300 points) used up the three order
    # lots older than the bonuses (A 100 + A 100 + B 50 = 250) and 50 of a bonus, so
    # brand B pays for exactly its 50 points, and the voucher was honoured at B.
    assert paid[story.brand_b]["points_paid_for"] == 50
    assert paid[story.brand_b]["points_redeemed_here"] == 100
    # 7. Carla and Davi pool points: R$ 800 each -> 1,600 >= the 1,500 of "Empresa Ouro".
    for who in ("carla", "davi"):
        order = _order(
            story.engine, story.brand_a, story.people[who][0], now - timedelta(days=9), 80_000
        )
        _api(server, "POST", f"/v1/loyalty/orders/{order}/earn", key)
    davi = tab_at("phone")
    _sign_in(davi, server, story, story.slug_a, "davi")
    pool = davi.locator('[data-section="pool"]')
    assert davi.locator('[data-pool="balance"]').inner_text() == "1.600"
    assert davi.locator('[data-pool="tier"]').inner_text() == "Empresa Ouro"
    assert "Ateliê Dias Ltda" in pool.inner_text()
    screenshot(davi, "shopper-davi-pool-phone-pt-BR")
    # 8. The same page at 1366 px in English.
    desktop = tab_at("desktop")
    _sign_in(desktop, server, story, story.slug_a, "ana")
    desktop.goto(f"{server.url}/shop/{story.slug_a}?lang=en")
    assert "Challenges" in desktop.inner_text("body")
    assert "Desafios" not in desktop.inner_text("body")
    screenshot(desktop, "shopper-ana-desktop-en")
