"""PostgreSQL: the loyalty earn over HTTP costs the round trips it needs and no more
(issue 20, docs/api.md "Request path cost").

Without an ``Idempotency-Key`` to record and without an active segment testing a loyalty
field, nothing is written beside the earn: it is its function's one call, in autocommit
(no ``BEGIN``, no ``COMMIT``), after two prepared reads. A key to record, a segment to
re-evaluate, or a branch the function leaves to Python keeps the unit of work.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text

from dbtest import create_test_engine
from recompra.api.settings import ApiSettings
from recompra.auth.keys import create_api_key
from recompra.config import Settings
from recompra.db import PREPARE_OPTION, unit_of_work
from recompra.loyalty import create_program, define_tier, publish_rules
from recompra.models import Brand
from recompra.server import create_app

pytestmark = pytest.mark.postgres

#: The sample order: one line of R$ 129.90; the rule earns 1 point per real.
PRICE_MINOR = 12990
POINTS = PRICE_MINOR // 100


@dataclass
class Shop:
    client: TestClient
    engine: Engine
    brand_id: int
    program_id: int
    keys: dict[str, str]
    #: (statement, whether the driver's connection was in autocommit) as they ran.
    seen: list[tuple[str, bool]] = field(default_factory=list)
    #: The statements that asked to be prepared on the server (``db.PREPARED``).
    prepared: list[str] = field(default_factory=list)

    def headers(self, scope: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}", **extra}

    def order(self, external_id: str) -> int:
        record = {
            "order_id": external_id,
            "purchased_at": "2026-11-20T10:00:00Z",
            "customer": {"id": f"c-{external_id}", "email": f"{external_id}@example.com"},
            "items": [{"product_id": "p1", "unit_price_minor": PRICE_MINOR}],
        }
        response = self.client.post(
            f"/v1/ingest/orders?brand_id={self.brand_id}&source=shop",
            json=record,
            headers=self.headers("ingest"),
        )
        assert response.status_code == 200, response.text
        return int(response.json()["ids"][0])

    def earn(self, order_id: int, **headers: str) -> tuple[dict[str, Any], list[tuple[str, bool]]]:
        """The answer to an earn and the statements it ran."""
        self.seen.clear()
        self.prepared.clear()
        response = self.client.post(
            f"/v1/loyalty/orders/{order_id}/earn?brand_id={self.brand_id}",
            headers=self.headers("loyalty", **headers),
        )
        assert response.status_code == 200, response.text
        # The key's verification and the brand are cached per process for 5 s (docs/api.md):
        # on a loaded machine the cache may expire between two requests; not the earn's.
        cached = ("SELECT brands.", "SELECT api_keys.", "UPDATE api_keys ")
        return response.json(), [seen for seen in self.seen if not seen[0].startswith(cached)]

    def balance(self, order_id: int) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT a.balance FROM loyalty_accounts a JOIN orders o"
                        " ON o.customer_id = a.customer_id WHERE o.id = :order_id"
                    ),
                    {"order_id": order_id},
                ).scalar_one()
            )


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    for engine in create_test_engine("postgres", tmp_path):
        with unit_of_work(engine) as session:
            row = Brand(slug="loja", name="Loja")
            session.add(row)
            session.flush()
            b = row.id
            keys = {
                scope: create_api_key(session, scopes=[scope], brand_id=b)[1]
                for scope in ("admin", "ingest", "loyalty")
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
        app = create_app(
            engine,
            Settings(home=tmp_path, environment="test"),
            ApiSettings(rate_limit_burst=1000, rate_limit_per_second=1000),
        )
        with TestClient(app) as client:
            shop = Shop(client, engine, b, program.id, keys)

            def record(
                conn: Any,
                cursor: Any,
                statement: str,
                parameters: Any,
                context: Any,
                *args: Any,
                shop: Shop = shop,
            ) -> None:
                shop.seen.append((statement, bool(conn.connection.driver_connection.autocommit)))
                if context is not None and context.execution_options.get(PREPARE_OPTION):
                    shop.prepared.append(statement)

            event.listen(engine, "before_cursor_execute", record)
            try:
                # The key's verification and the brand are then cached (docs/api.md).
                shop.earn(shop.order("warm-up"))
                yield shop
            finally:
                event.remove(engine, "before_cursor_execute", record)


def _kinds(seen: list[tuple[str, bool]]) -> list[str]:
    names = {
        "FROM segments": "active segments",
        "(SELECT orders.customer_id": "earn target",
        "recompra_loyalty_earn_order(": "earn function",
        "idempotency_records": "idempotency",
    }
    return [
        next((kind for part, kind in names.items() if part in statement), statement[:40])
        for statement, _ in seen
    ]


def test_an_earn_without_a_key_is_three_statements_in_autocommit(shop: Shop) -> None:
    order_id = shop.order("rt-1")
    answer, seen = shop.earn(order_id)
    assert answer["points"] == POINTS
    assert answer["duplicate"] is False
    assert _kinds(seen) == ["active segments", "earn target", "earn function"]
    # Autocommit on the driver: psycopg sends no BEGIN, and no COMMIT follows.
    assert all(autocommit for _, autocommit in seen)
    assert shop.balance(order_id) == POINTS
    repeat, _ = shop.earn(order_id)
    assert repeat == {**answer, "duplicate": True}
    assert shop.balance(order_id) == POINTS


def test_an_earn_with_a_key_records_it_in_its_unit_of_work(shop: Shop) -> None:
    order_id = shop.order("rt-2")
    answer, seen = shop.earn(order_id, **{"Idempotency-Key": "k-rt-2"})
    assert answer["points"] == POINTS
    assert "idempotency" in _kinds(seen)
    assert "earn function" in _kinds(seen)
    assert not any(autocommit for _, autocommit in seen)  # one transaction with the record
    # Each of the key's statements (its lookup, its record) is prepared on the server,
    # as the earn's own statements are.
    assert _kinds([(p, False) for p in shop.prepared]).count("idempotency") == 2
    replay, seen = shop.earn(order_id, **{"Idempotency-Key": "k-rt-2"})
    assert replay == answer  # the stored answer (not a "duplicate" earn)
    assert "earn function" not in _kinds(seen)


def test_an_earn_with_a_loyalty_segment_re_evaluates_in_its_unit_of_work(shop: Shop) -> None:
    rich = {
        "key": "points_rich",
        "name": {"pt-BR": "Com 100 pontos ou mais", "en": "100 points or more"},
        "rule": {"field": "points_balance", "op": "gte", "value": 100},
    }
    applied = shop.client.post(
        f"/v1/live-segments?brand_id={shop.brand_id}", json=rich, headers=shop.headers("admin")
    )
    assert applied.status_code == 201, applied.text
    order_id = shop.order("rt-3")
    answer, seen = shop.earn(order_id)
    assert answer["points"] == POINTS >= 100
    kinds = _kinds(seen)
    # The segment is seen before anything is written, and the earn with its entry event
    # commit together: the earn runs in the unit of work, not in autocommit.
    assert kinds[0] == "active segments"
    assert kinds.count("earn function") == 1
    earned_at = kinds.index("earn function")
    assert not seen[earned_at][1]
    with shop.engine.connect() as conn:
        entered = conn.execute(
            text(
                "SELECT count(*) FROM segment_membership_events WHERE type = 'segment_entered'"
                " AND customer_id = (SELECT customer_id FROM orders WHERE id = :order_id)"
            ),
            {"order_id": order_id},
        ).scalar_one()
    assert entered == 1


def test_an_earn_the_function_declines_takes_the_python_path_once(shop: Shop) -> None:
    # A program with tiers: an upgrade may follow the earn, the function leaves it to Python.
    with unit_of_work(shop.engine) as session:
        define_tier(
            session,
            program_id=shop.program_id,
            code="prata",
            name="Prata",
            rank=1,
            metric="points",
            threshold=10_000,
        )
    order_id = shop.order("rt-4")
    answer, seen = shop.earn(order_id)
    assert answer["points"] == POINTS
    # Declined once in autocommit (it changed nothing), then not asked again.
    assert _kinds(seen).count("earn function") == 1
    assert shop.balance(order_id) == POINTS
    repeat, _ = shop.earn(order_id)
    assert repeat["duplicate"] is True
    assert shop.balance(order_id) == POINTS
