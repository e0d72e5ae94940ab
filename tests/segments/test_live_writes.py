"""Segments stay live through the API's write paths: an ingested order or return, or a
loyalty earn or redemption, that moves a customer across a rule's boundary writes the
entry/exit event in the same unit of work (SQLite and PostgreSQL); a rejected record moves
nobody."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from segmenttest import brand

from dbtest import BACKENDS, create_test_engine
from recompra.api.settings import ApiSettings
from recompra.auth.keys import create_api_key
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.loyalty import create_program, create_reward, publish_rules
from recompra.server import create_app

BIG_SPENDERS = {
    "key": "big_spenders",
    "name": {"pt-BR": "Quem gastou R$ 100+", "en": "Spent R$ 100+"},
    "rule": {
        "all": [
            {"field": "orders", "op": "gte", "value": 1},
            {"field": "net_revenue", "op": "gte", "value": 100.00},
        ]
    },
}


POINTS_RICH = {
    "key": "points_rich",
    "name": {"pt-BR": "Com 100 pontos ou mais", "en": "100 points or more"},
    "rule": {"field": "points_balance", "op": "gte", "value": 100},
}


class Store:
    def __init__(self, client: TestClient, brand_id: int, keys: dict[str, str]) -> None:
        self.client = client
        self.brand_id = brand_id
        self.headers = {scope: {"Authorization": f"Bearer {k}"} for scope, k in keys.items()}

    def ingest(self, entity: str, record: dict[str, Any]) -> Any:
        response = self.client.post(
            f"/v1/ingest/{entity}?brand_id={self.brand_id}&source=shop",
            json=record,
            headers=self.headers["ingest"],
        )
        assert response.status_code in (200, 207), response.text
        return response.json()

    def members(self, key: str) -> int:
        """How many members segment ``key`` has now."""
        return int(
            self.client.get(
                f"/v1/live-segments/{key}/members",
                params={"brand_id": self.brand_id},
                headers=self.headers["read"],
            ).json()["total"]
        )

    def events(self) -> list[tuple[str, str]]:
        """(event type, segment key) of the whole membership feed, oldest first."""
        feed = self.client.get(
            "/v1/live-segments/events",
            params={"brand_id": self.brand_id, "limit": 100},
            headers=self.headers["read"],
        ).json()["events"]
        return [(e["type"], e["segment_key"]) for e in feed]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    for engine in create_test_engine(request.param, tmp_path):
        with unit_of_work(engine) as session:
            b = brand(session)
            keys = {
                scope: create_api_key(session, scopes=[scope], brand_id=b)[1]
                for scope in ("admin", "ingest", "read", "loyalty")
            }
            program = create_program(
                session, brand_id=b, name="Clube", return_window_days=0, expiry_days=365
            )
            publish_rules(
                session,
                program_id=program.id,
                rules=[{"type": "base", "points_per_unit": 1}],
                effective_from=datetime(2000, 1, 1, tzinfo=UTC),
            )
            create_reward(
                session, program_id=program.id, code="cupom", name="Cupom", cost_points=100
            )
        app = create_app(
            engine,
            Settings(home=tmp_path, environment="test"),
            ApiSettings(rate_limit_burst=1000, rate_limit_per_second=1000),
        )
        with TestClient(app) as client:
            live = Store(client, b, keys)
            applied = client.post(
                f"/v1/live-segments?brand_id={b}", json=BIG_SPENDERS, headers=live.headers["admin"]
            )
            assert applied.status_code == 201, applied.text
            assert applied.json()["members"] == 0
            rich = client.post(
                f"/v1/live-segments?brand_id={b}", json=POINTS_RICH, headers=live.headers["admin"]
            )
            assert rich.status_code == 201, rich.text
            yield live


def _order(order_id: str, price_minor: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "purchased_at": "2026-11-20T10:00:00Z",
        "customer": {"id": "c-live", "email": "live@example.com"},
        "items": [{"product_id": "p1", "unit_price_minor": price_minor}],
    }


def test_an_order_enters_and_a_return_exits(store: Store) -> None:
    store.ingest("orders", _order("o-small", 6_000))
    assert store.events() == []  # R$ 60: below the boundary

    store.ingest("orders", _order("o-big", 9_000))  # R$ 150 in all
    assert store.events() == [("segment_entered", "big_spenders")]

    rejected = store.ingest("orders", _order("o-bad", "abc"))
    assert rejected["rejected"] == 1
    assert store.events() == [("segment_entered", "big_spenders")]

    store.ingest(
        "returns",
        {
            "return_id": "r-1",
            "order_id": "o-big",
            "amount_minor": 9_000,
            "created_at": "2026-11-22T10:00:00Z",
        },
    )  # back to R$ 60 net
    assert store.events() == [
        ("segment_entered", "big_spenders"),
        ("segment_exited", "big_spenders"),
    ]
    assert store.members("big_spenders") == 0


def test_earning_enters_and_redeeming_exits(store: Store) -> None:
    order = store.ingest("orders", _order("o-points", 15_000))  # R$ 150: 150 points
    events = [("segment_entered", "big_spenders")]
    assert store.events() == events
    headers = store.headers["loyalty"]
    earned = store.client.post(
        f"/v1/loyalty/orders/{order['ids'][0]}/earn?brand_id={store.brand_id}", headers=headers
    )
    assert earned.status_code == 200, earned.text
    events.append(("segment_entered", "points_rich"))
    assert store.events() == events

    customer = store.client.get(
        f"/v1/live-segments/points_rich/members?brand_id={store.brand_id}",
        headers=store.headers["read"],
    ).json()["items"][0]["customer_id"]
    redeemed = store.client.post(
        f"/v1/loyalty/redemptions?brand_id={store.brand_id}",
        json={"customer_id": customer, "reward_code": "cupom"},
        headers=headers,
    )
    assert redeemed.status_code == 201, redeemed.text  # 150 - 100 = 50 points left
    events.append(("segment_exited", "points_rich"))
    assert store.events() == events

    cancelled = store.client.post(
        f"/v1/loyalty/redemptions/{redeemed.json()['coupon_code']}/cancel"
        f"?brand_id={store.brand_id}",
        headers=headers,
    )
    assert cancelled.status_code == 200, cancelled.text  # the 100 points come back
    events.append(("segment_entered", "points_rich"))
    assert store.events() == events


GOLD_WITH_PETS = {
    "key": "gold_with_pets",
    "name": {"pt-BR": "Ouro com 2+ pets", "en": "Gold with 2+ pets"},
    "rule": {
        "all": [
            {"field": "property.plan", "op": "eq", "value": "gold"},
            {"field": "property.pets", "op": "gte", "value": 2},
        ]
    },
}


def test_property_writes_enter_and_exit(store: Store) -> None:
    admin, ingest = store.headers["admin"], store.headers["ingest"]
    applied = store.client.post(
        f"/v1/live-segments?brand_id={store.brand_id}", json=GOLD_WITH_PETS, headers=admin
    )
    assert applied.status_code == 201, applied.text
    customer = store.ingest("customers", {"id": "c-props", "email": "props@example.com"})
    url = f"/v1/customers/{customer['ids'][0]}/properties?brand_id={store.brand_id}"

    def write(method: str, properties: dict[str, Any]) -> None:
        response = store.client.request(
            method, url, json={"properties": properties}, headers=ingest
        )
        assert response.status_code == 200, response.text

    events: list[tuple[str, str]] = []
    write("PATCH", {"plan": "gold"})  # no pets yet
    assert store.events() == events
    write("PATCH", {"pets": 2})
    events.append(("segment_entered", "gold_with_pets"))
    assert store.events() == events
    write("PATCH", {"nickname": "Lu"})  # a property no segment tests moves nobody
    assert store.events() == events
    write("PATCH", {"pets": "two"})  # a text is not a number: the condition fails
    events.append(("segment_exited", "gold_with_pets"))
    assert store.events() == events
    write("PUT", {"plan": "gold", "pets": 3})
    events.append(("segment_entered", "gold_with_pets"))
    assert store.events() == events
    write("PATCH", {"plan": None})  # removed
    events.append(("segment_exited", "gold_with_pets"))
    assert store.events() == events
    assert store.members("gold_with_pets") == 0


def test_a_mistyped_property_rule_is_refused_with_its_path(store: Store) -> None:
    document = {
        **GOLD_WITH_PETS,
        "rule": {"any": [{"field": "property.pets", "op": "gt", "value": "many"}]},
    }
    refused = store.client.post(
        f"/v1/live-segments?brand_id={store.brand_id}",
        json=document,
        headers=store.headers["admin"],
    )
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["field"] == "rule.any[0].value"
    assert "rule.any[0].value: property.pets: type mismatch" in error["message"]
