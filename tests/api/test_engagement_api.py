"""Engagement through the API: a streak challenge, a quiz, an experience, a referral.

The scenario of issue 19: a customer completes a 3-month streak challenge, passes a
quiz, redeems an experiential reward her badge opens, and refers a friend whose first
order releases both rewards once its return window has passed; the listed fraud cases
are refused with their reasons; every account's cached balances reconcile with its
ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from recompra.db import unit_of_work
from recompra.loyalty import create_program, find_account, publish_rules, verify_account
from recompra.loyalty.challenges.periods import month_start
from samplestore import SampleStore

WINDOW_DAYS = 7


@pytest.fixture
def program(engine: Engine, store: SampleStore) -> int:
    """Brand A's program with a 7-day return window."""
    with unit_of_work(engine) as session:
        program = create_program(
            session, brand_id=store.brand_a, name="Clube A", return_window_days=WINDOW_DAYS
        )
        publish_rules(
            session,
            program_id=program.id,
            rules=[{"type": "base", "points_per_unit": 1}],
            effective_from=datetime(2000, 1, 1, tzinfo=UTC),
        )
        return program.id


def _customer(client: TestClient, keys: Keys, ref: str, **contact: str) -> int:
    response = client.post(
        "/v1/ingest/customers", json={"id": ref, **contact}, headers=auth(keys.ingest_a)
    )
    assert response.status_code == 200, response.json()
    return int(response.json()["ids"][0])


def _order(client: TestClient, keys: Keys, ref: str, customer: str, at: datetime) -> None:
    body = {
        "order_id": ref,
        "purchased_at": at.isoformat(),
        "customer": {"id": customer},
        "items": [{"product_id": "p-eng", "unit_price_minor": 5_000}],
    }
    response = client.post("/v1/ingest/orders", json=body, headers=auth(keys.ingest_a))
    assert response.status_code == 200, response.json()


def _points(client: TestClient, keys: Keys, customer: int) -> tuple[int, int]:
    response = client.get(f"/v1/loyalty/customers/{customer}", headers=auth(keys.loyalty_a))
    assert response.status_code == 200, response.json()
    return response.json()["balance"], response.json()["pending"]


def _streak_dates(now: datetime) -> list[datetime]:
    """A purchase in each of the two months before this one and one earlier this month."""
    this_month = month_start(now.year, now.month)
    return [
        month_start(now.year, now.month - 2) + timedelta(days=3),
        month_start(now.year, now.month - 1) + timedelta(days=3),
        this_month + (now - this_month) / 2,
    ]


def test_streak_quiz_and_referral_through_the_api(
    client: TestClient,
    keys: Keys,
    store: SampleStore,
    engine: Engine,
    program: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = {**auth(keys.admin)}
    brand = {"brand_id": store.brand_a}
    shop = auth(keys.loyalty_a)

    def admin_post(path: str, body: dict[str, Any] | None = None) -> Any:
        response = client.post(path, json=body, headers=admin, params=brand)
        assert response.status_code in (200, 201), response.json()
        return response.json()

    admin_post("/v1/loyalty/badges", {"code": "fiel", "name": "Cliente fiel"})
    admin_post(
        "/v1/loyalty/challenges",
        {
            "code": "trimestre",
            "name": "Uma compra por mês, três meses",
            "kind": "streak",
            "metric": "orders",
            "target": 3,
            "reward_points": 300,
            "badge_code": "fiel",
        },
    )
    quiz = admin_post(
        "/v1/loyalty/quizzes",
        {
            "code": "marca",
            "title": "Conheça a marca",
            "questions": [
                {"text": "Prazo de troca?", "options": ["7 dias", "90 dias"], "answer": 0},
                {"text": "Frete grátis acima de?", "options": ["R$ 99", "R$ 500"], "answer": 0},
            ],
            "pass_mark": 2,
            "reward_points": 50,
        },
    )
    assert "answer" not in str(quiz["questions"])
    terms = {"referrer_points": 100, "friend_points": 40, "burst_limit": 10}
    response = client.put("/v1/loyalty/referrals/terms", json=terms, headers=admin, params=brand)
    assert response.status_code == 200, response.json()

    # 1. The streak: two months done is "2 of 3"; the third month's order completes it.
    now = datetime.now(UTC)
    ana = _customer(
        client,
        keys,
        "eng-ana",
        email="ana.souza@gmail.com",
        zip_prefix="01310",
        city="São Paulo",
        state="SP",
    )
    first, second, third = _streak_dates(now)
    _order(client, keys, "eng-o1", "eng-ana", first)
    _order(client, keys, "eng-o2", "eng-ana", second)
    progress = client.get(f"/v1/loyalty/customers/{ana}/challenges", headers=shop).json()
    assert [(c["code"], c["current"], c["target"]) for c in progress["challenges"]] == [
        ("trimestre", 2, 3)
    ]
    evaluate = f"/v1/loyalty/customers/{ana}/challenges/evaluate"
    assert client.post(evaluate, headers=shop).json() == []
    _order(client, keys, "eng-o3", "eng-ana", third)
    done = client.post(evaluate, headers=shop).json()
    assert [(c["code"], c["points"], c["badge_code"]) for c in done] == [("trimestre", 300, "fiel")]
    assert client.post(evaluate, headers=shop).json() == []  # once per period
    progress = client.get(f"/v1/loyalty/customers/{ana}/challenges", headers=shop).json()
    assert progress["challenges"][0]["complete"] is True
    assert [b["code"] for b in progress["badges"]] == ["fiel"]
    assert _points(client, keys, ana) == (300, 0)

    # 2. The quiz: passed once; re-posting is refused and earns nothing.
    attempt = {"customer_id": ana, "answers": [0, 0]}
    response = client.post("/v1/loyalty/quizzes/marca/attempts", json=attempt, headers=shop)
    assert response.status_code == 201, response.json()
    assert (response.json()["passed"], response.json()["points"]) == (True, 50)
    again = client.post("/v1/loyalty/quizzes/marca/attempts", json=attempt, headers=shop)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "quiz_already_attempted"
    assert _points(client, keys, ana) == (350, 0)

    # 3. An experiential reward: a seat at an event, only for holders of the badge.
    admin_post(
        "/v1/loyalty/experiences",
        {
            "code": "show",
            "name": "Show de lançamento",
            "kind": "event_seat",
            "cost_points": 100,
            "capacity": 20,
            "badge_code": "fiel",
        },
    )
    offer = client.get(f"/v1/loyalty/customers/{ana}/experiences", headers=shop).json()
    assert [(o["code"], o["eligible"], o["seats_left"]) for o in offer] == [("show", True, 20)]
    seat = client.post(
        "/v1/loyalty/experiences/show/redemptions", json={"customer_id": ana}, headers=shop
    )
    assert seat.status_code == 201, seat.json()
    assert seat.json()["points"] == 100
    assert _points(client, keys, ana) == (250, 0)

    # 4. The referral: the fraud guards first, each refusal stored with its reason.
    code = client.post(f"/v1/loyalty/customers/{ana}/referral-code", headers=shop).json()["code"]

    def claim(friend: int) -> tuple[str, str | None]:
        response = client.post(
            "/v1/loyalty/referrals/claims", json={"code": code, "friend_id": friend}, headers=shop
        )
        assert response.status_code == 201, response.json()
        return response.json()["status"], response.json()["reason"]

    alias = _customer(client, keys, "eng-alias", email="anasouza+2@gmail.com")
    neighbour = _customer(
        client,
        keys,
        "eng-vizinha",
        email="vizinha@example.com",
        zip_prefix="01311",
        city="SAO PAULO",
        state="SP",
    )
    neighbour_same = _customer(
        client,
        keys,
        "eng-casa",
        email="casa@example.com",
        zip_prefix="01310",
        city="SAO PAULO",
        state="SP",
    )
    assert claim(ana) == ("rejected", "self_referral")
    assert claim(alias) == ("rejected", "same_email")
    assert claim(neighbour_same) == ("rejected", "same_address")
    # Another ZIP prefix in the same city is another address.
    assert claim(neighbour)[0] == "claimed"
    bia = _customer(client, keys, "eng-bia", email="bia@example.com")
    assert claim(bia) == ("claimed", None)
    assert claim(bia) == ("rejected", "already_referred")

    # The friend's first order: both rewards are held as pending points...
    _order(client, keys, "eng-bia-1", "eng-bia", datetime.now(UTC))
    assert admin_post("/v1/loyalty/referrals/settle") == {"held": 1, "released": 0, "voided": 0}
    assert _points(client, keys, ana) == (250, 100)
    assert _points(client, keys, bia) == (0, 40)
    # ...and released once the order has outlived its return window.
    later = datetime.now(UTC) + timedelta(days=WINDOW_DAYS, hours=1)
    monkeypatch.setattr("recompra.api.routers.engagement.utcnow", lambda: later)
    assert admin_post("/v1/loyalty/referrals/settle") == {"held": 0, "released": 1, "voided": 0}
    assert _points(client, keys, ana) == (350, 0)
    assert _points(client, keys, bia) == (40, 0)
    # The friend holds no badge: the seat is refused, and says why.
    refused = client.post(
        "/v1/loyalty/experiences/show/redemptions", json={"customer_id": bia}, headers=shop
    )
    assert refused.status_code == 409
    assert (refused.json()["error"]["code"], refused.json()["error"]["field"]) == (
        "experience_restricted",
        "badge",
    )
    stats = client.get("/v1/loyalty/referrals/stats", headers=shop).json()
    # 6 claims, 4 refused; of the 2 accepted, bia's was released and the neighbour's
    # waits for a first order: conversion 1/2.
    assert (stats["claims"], stats["rejected"], stats["released"], stats["waiting"]) == (6, 4, 1, 1)
    assert stats["conversion"] == pytest.approx(1 / 2)

    # 5. Every account reconciles with its ledger.
    with unit_of_work(engine, write=False) as session:
        for customer in (ana, bia):
            account = find_account(session, program_id=program, customer_id=customer)
            assert account is not None
            report = verify_account(session, account_id=account.id)
            assert report["ok"], report
