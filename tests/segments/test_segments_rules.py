"""What each field and operator selects, on a hand-made store (SQLite and PostgreSQL).

Every case names the customers it must select; each customer differs from the others in
the one property the case tests, so a wrong boundary or a wrong join changes the set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from segmenttest import NOW, brand, customer, members_on, order, refund
from sqlalchemy import Engine

from dbtest import BACKENDS, create_test_engine
from recompra.db import unit_of_work
from recompra.models import (
    Category,
    CustomerScore,
    Event,
    LoyaltyAccount,
    LoyaltyLot,
    LoyaltyMovement,
    LoyaltyProgram,
    LoyaltyTier,
    OrderItem,
    Product,
    Return,
    Review,
)
from recompra.segments.compile import compile_rule
from recompra.segments.definition import parse_rule

DAY = timedelta(days=1)


@dataclass
class Store:
    engine: Engine
    brand: int
    ids: dict[str, int]


@pytest.fixture(scope="module", params=BACKENDS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    for engine in create_test_engine(request.param, tmp_path_factory.mktemp("rules")):
        with unit_of_work(engine) as session:
            seeded = _seed(session)
        yield Store(engine, *seeded)


def _seed(session: Any) -> tuple[int, dict[str, int]]:
    b = brand(session)
    other = brand(session, "outra")
    c: dict[str, int] = {}
    c["today"] = customer(session, b, birth_date=date(1990, 6, 17))
    c["month_ago"] = customer(session, b, state="RJ", birth_date=date(1985, 7, 2))
    c["never"] = customer(session, b, state=None, seen=NOW - 3 * DAY)
    c["company"] = customer(session, b, document="12345678000199", state="MG")
    c["refunded"] = customer(session, b)
    c["other_brand"] = customer(session, other)

    cat = Category(brand_id=b, slug="beleza")
    session.add(cat)
    session.flush()
    product = Product(brand_id=b, source="t", external_id="sku-1", category_id=cat.id)
    session.add(product)
    session.flush()

    o = order(session, b, c["today"], total_minor=10_000, at=NOW - timedelta(hours=1))
    session.add(
        OrderItem(
            order_id=o,
            line_number=1,
            product_id=product.id,
            quantity=1,
            unit_price_minor=10_000,
            total_minor=10_000,
        )
    )
    order(session, b, c["today"], total_minor=30_000, at=NOW - 40 * DAY, channel="app")
    order(session, b, c["month_ago"], total_minor=50_000, at=NOW - 30 * DAY)
    old = order(session, b, c["month_ago"], total_minor=20_000, at=NOW - 200 * DAY)
    session.add(
        OrderItem(
            order_id=old,
            line_number=1,
            product_id=product.id,
            quantity=1,
            unit_price_minor=20_000,
            total_minor=20_000,
        )
    )
    order(session, b, c["month_ago"], total_minor=99_000, at=NOW - 2 * DAY, status="canceled")
    order(session, b, c["company"], total_minor=5_000, at=NOW - 10 * DAY)
    big = order(session, b, c["refunded"], total_minor=80_000, at=NOW - 5 * DAY)
    refund(session, b, big, amount_minor=90_000, at=NOW - 4 * DAY)  # floored at 0
    order(session, other, c["other_brand"], total_minor=900_000, at=NOW - DAY)
    # A cancellation is not a return.
    session.add(
        Return(
            brand_id=b,
            source="t",
            external_id="cx",
            order_id=old,
            kind="cancellation",
            amount_minor=0,
            created_at=NOW - 100 * DAY,
        )
    )

    session.add(
        Review(
            brand_id=b,
            source="t",
            external_id="r1",
            customer_id=c["company"],
            score=1,
            created_at=NOW - 3 * DAY,
        )
    )
    session.add(
        Review(
            brand_id=b,
            source="t",
            external_id="r2",
            customer_id=c["today"],
            score=2,
            created_at=NOW - 60 * DAY,
        )
    )
    for i in range(2):
        session.add(
            Event(
                brand_id=b,
                customer_id=c["never"],
                type="cart_abandoned",
                occurred_at=NOW - (i + 1) * DAY,
                external_id=f"e{i}",
            )
        )
    session.add(
        Event(
            brand_id=b,
            customer_id=c["today"],
            type="cart_abandoned",
            occurred_at=NOW - 20 * DAY,
            external_id="e9",
        )
    )

    # Scores: an old row says "lost"; the latest says "champions" (only the latest counts).
    session.add(
        CustomerScore(
            brand_id=b,
            customer_id=c["today"],
            as_of=date(2026, 1, 1),
            segment="lost",
            churn_risk=0.9,
        )
    )
    session.add(
        CustomerScore(
            brand_id=b,
            customer_id=c["today"],
            as_of=date(2026, 6, 1),
            segment="champions",
            r_score=5,
            churn_risk=0.1,
            clv_minor=120_000,
            expected_next_order_at=NOW + 5 * DAY,
        )
    )
    session.add(
        CustomerScore(
            brand_id=b,
            customer_id=c["month_ago"],
            as_of=date(2026, 6, 1),
            segment="at_risk",
            r_score=2,
            churn_risk=0.7,
            expected_next_order_at=NOW + 30 * DAY,
        )
    )

    program = LoyaltyProgram(brand_id=b, name="Clube")
    session.add(program)
    session.flush()
    gold = LoyaltyTier(
        program_id=program.id, code="gold", name="Ouro", rank=2, metric="spend", threshold=1
    )
    silver = LoyaltyTier(
        program_id=program.id, code="silver", name="Prata", rank=1, metric="spend", threshold=0
    )
    session.add_all([gold, silver])
    session.flush()
    rich = LoyaltyAccount(
        program_id=program.id,
        customer_id=c["today"],
        balance=150,
        tier_id=silver.id,
        override_tier_id=gold.id,
        override_until=NOW + 10 * DAY,
    )
    poor = LoyaltyAccount(
        program_id=program.id, customer_id=c["month_ago"], balance=20, tier_id=silver.id
    )
    session.add_all([rich, poor])
    session.flush()
    movement = LoyaltyMovement(account_id=rich.id, kind="earn", points=150)
    session.add(movement)
    session.flush()
    for points, expires in ((60, NOW + 10 * DAY), (90, NOW + 100 * DAY)):
        session.add(
            LoyaltyLot(
                account_id=rich.id,
                movement_id=movement.id,
                source="order",
                state="active",
                points=points,
                remaining=points,
                earned_at=NOW - 50 * DAY,
                expires_at=expires,
            )
        )
    session.flush()
    return b, c


CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("state", {"field": "state", "op": "eq", "value": "SP"}, {"today", "refunded"}),
    ("state null", {"field": "state", "op": "is_null"}, {"never"}),
    (
        "not state (null counts)",
        {"not": {"field": "state", "op": "eq", "value": "SP"}},
        {"month_ago", "never", "company"},
    ),
    ("orders ever", {"field": "orders", "op": "gte", "value": 2}, {"today", "month_ago"}),
    ("orders 0", {"field": "orders", "op": "eq", "value": 0}, {"never"}),
    (
        "orders in 31 days",
        {"field": "orders", "op": "gte", "value": 1, "days": 31},
        {"today", "month_ago", "company", "refunded"},
    ),
    (
        "orders in 30 days",
        {"field": "orders", "op": "gte", "value": 1, "days": 30},
        {"today", "company", "refunded"},
    ),
    (
        "net revenue floors refunds",
        {"field": "net_revenue", "op": "lte", "value": 0},
        {"never", "refunded"},
    ),
    ("net revenue", {"field": "net_revenue", "op": "gte", "value": 700.00}, {"month_ago"}),
    (
        "net revenue window",
        {"field": "net_revenue", "op": "gte", "value": 100.00, "days": 30},
        {"today"},
    ),
    (
        "aov counts paid totals",
        {"field": "aov", "op": "gte", "value": 350.00},
        {"month_ago", "refunded"},
    ),
    ("days since eq 0", {"field": "days_since_last_order", "op": "eq", "value": 0}, {"today"}),
    (
        "days since gte 30",
        {"field": "days_since_last_order", "op": "gte", "value": 30},
        {"month_ago"},
    ),
    (
        "days since lt 10",
        {"field": "days_since_last_order", "op": "lt", "value": 10},
        {"today", "refunded"},
    ),
    (
        "days since between",
        {"field": "days_since_last_order", "op": "between", "value": [5, 10]},
        {"company", "refunded"},
    ),
    ("days since null", {"field": "days_since_last_order", "op": "is_null"}, {"never"}),
    (
        "last order within 7",
        {"field": "last_order_date", "op": "within_days", "value": 7},
        {"today", "refunded"},
    ),
    (
        "first order date",
        {"field": "first_order_date", "op": "lt", "value": (NOW - 100 * DAY).date().isoformat()},
        {"month_ago"},
    ),
    ("signup within 5", {"field": "signup_date", "op": "within_days", "value": 5}, {"never"}),
    (
        "bought category ever",
        {"field": "bought_category", "op": "in", "value": ["beleza"]},
        {"today", "month_ago"},
    ),
    (
        "bought product in 30 days",
        {"field": "bought_product", "op": "in", "value": ["sku-1"], "days": 30},
        {"today"},
    ),
    (
        "never bought category",
        {"field": "bought_category", "op": "not_in", "value": ["beleza"]},
        {"never", "company", "refunded"},
    ),
    ("channel", {"field": "channel", "op": "in", "value": ["app"]}, {"today"}),
    ("returned (not cancelled)", {"field": "returned", "op": "eq", "value": True}, {"refunded"}),
    ("review score", {"field": "review_score", "op": "lte", "value": 2}, {"company", "today"}),
    (
        "review score window",
        {"field": "review_score", "op": "lte", "value": 2, "days": 30},
        {"company"},
    ),
    (
        "events in 7 days",
        {"field": "event_count", "event": "cart_abandoned", "op": "gte", "value": 2, "days": 7},
        {"never"},
    ),
    (
        "events ever",
        {"field": "event_count", "event": "cart_abandoned", "op": "gte", "value": 1},
        {"never", "today"},
    ),
    (
        "latest rfm segment",
        {"field": "rfm_segment", "op": "in", "value": ["lost", "champions"]},
        {"today"},
    ),
    ("churn risk", {"field": "churn_risk", "op": "gte", "value": 0.6}, {"month_ago"}),
    (
        "not rfm (no scores counts)",
        {"not": {"field": "rfm_segment", "op": "eq", "value": "champions"}},
        {"month_ago", "never", "company", "refunded"},
    ),
    ("clv", {"field": "clv", "op": "gt", "value": 1000.00}, {"today"}),
    (
        "next order within 7",
        {"field": "expected_next_order_date", "op": "within_days", "value": 7},
        {"today"},
    ),
    ("birthday in 2 days", {"field": "birthday", "op": "within_days", "value": 2}, {"today"}),
    ("birthday month", {"field": "birthday", "op": "eq", "value": 7}, {"month_ago"}),
    (
        "birthday crosses a month",
        {"field": "birthday", "op": "within_days", "value": 17},
        {"today", "month_ago"},
    ),
    ("b2b", {"field": "b2b", "op": "eq", "value": True}, {"company"}),
    ("points balance", {"field": "points_balance", "op": "gte", "value": 100}, {"today"}),
    ("no account", {"field": "points_balance", "op": "is_null"}, {"never", "company", "refunded"}),
    ("tier override applies", {"field": "tier", "op": "eq", "value": "gold"}, {"today"}),
    (
        "points expiring",
        {"field": "points_expiring", "op": "gte", "value": 60, "days": 30},
        {"today"},
    ),
    (
        "points expiring window",
        {"field": "points_expiring", "op": "gt", "value": 60, "days": 120},
        {"today"},
    ),
    (
        "nested",
        {
            "all": [
                {
                    "any": [
                        {"field": "state", "op": "eq", "value": "SP"},
                        {"field": "churn_risk", "op": "gte", "value": 0.6},
                    ]
                },
                {"not": {"field": "net_revenue", "op": "lt", "value": 500.00}},
            ]
        },
        {"month_ago"},
    ),
]


@pytest.mark.parametrize("path", ["hub", "duckdb"])
@pytest.mark.parametrize(("name", "rule", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule_selects(
    store: Store, name: str, rule: dict[str, Any], expected: set[str], path: str
) -> None:
    """On the hub database (incremental path) and on the DuckDB copy (full evaluation)."""
    query = compile_rule(parse_rule(rule, money="units"))
    found = members_on(store.engine, store.brand, query, path)
    names = {v: k for k, v in store.ids.items()}
    assert {names[i] for i in found} == expected


def test_subset_evaluation_matches_the_full_one(store: Store) -> None:
    rule = parse_rule(CASES[-1][1], money="units")
    full = compile_rule(rule)
    subset = compile_rule(rule, subset=True)
    ids = [store.ids["month_ago"], store.ids["today"]]
    with unit_of_work(store.engine, write=False) as session:
        everyone = set(
            session.execute(full.statement, full.params(brand_id=store.brand, now=NOW)).scalars()
        )
        some = set(
            session.execute(
                subset.statement, subset.params(brand_id=store.brand, now=NOW, customer_ids=ids)
            ).scalars()
        )
    assert some == everyone & set(ids)


def test_birthdays_on_29_february_are_kept_in_common_years() -> None:
    from recompra.segments.purchases import upcoming_birthdays

    assert 229 in upcoming_birthdays(date(2027, 2, 27), 1)
    assert 229 not in upcoming_birthdays(date(2028, 2, 27), 1)  # 2028 has a 29th
    assert upcoming_birthdays(datetime(2026, 12, 31, tzinfo=UTC).date(), 1) == [1231, 101]


def test_one_query_for_every_rule_selects_what_each_rule_does(store: Store) -> None:
    from recompra.segments.compile import compile_many

    query = compile_many([parse_rule(rule, money="units") for _, rule, _ in CASES])
    names = {v: k for k, v in store.ids.items()}
    with unit_of_work(store.engine, write=False) as session:
        rows = session.execute(
            query.statement,
            query.params(brand_id=store.brand, now=NOW, customer_ids=list(store.ids.values())),
        ).all()
    for position, (name, _, expected) in enumerate(CASES):
        found = {names[row[0]] for row in rows if row[position + 1]}
        assert found == expected, name
