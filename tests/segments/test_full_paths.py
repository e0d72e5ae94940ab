"""The two evaluation paths select the same members on a generated store.

Full evaluation runs the compiled tree in DuckDB over a copy of the hub rows
(:mod:`recompra.segments.full`); incremental re-evaluation runs the same compiled tree
on the hub database. Both must agree customer for customer, on SQLite and PostgreSQL,
for rules over every group of fields (the hand-made expectations per field are in
test_segments_rules.py; the Olist segments in test_segments_olist.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pytest
from segmenttest import brand
from sqlalchemy import Engine, func, select

from dbtest import BACKENDS, create_test_engine
from recompra.db import unit_of_work
from recompra.generate import GeneratorConfig, generate_tables
from recompra.hub.importers.generated import load_generated
from recompra.models import BrandCustomer, Category, CustomerScore, Order
from recompra.segments.compile import compile_many, compile_rule
from recompra.segments.definition import parse_rule
from recompra.segments.full import HubCopy


@dataclass
class Generated:
    engine: Engine
    brand: int
    now: datetime
    customers: int
    slugs: list[str]


@pytest.fixture(scope="module", params=BACKENDS)
def generated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Generated]:
    for engine in create_test_engine(request.param, tmp_path_factory.mktemp("paths")):
        yield _load(engine)


def _load(engine: Engine) -> Generated:
    """A generated store of 1,500 customers, with two scores rows per customer."""
    with unit_of_work(engine) as session:
        brand_id = brand(session, "gerada")
    load_generated(
        engine, generate_tables(GeneratorConfig(seed=11, n_customers=1500)), brand_id=brand_id
    )
    with unit_of_work(engine) as session:
        last = session.scalar(select(func.max(Order.purchased_at)))
        assert last is not None
        ids = list(
            session.scalars(
                select(BrandCustomer.customer_id).where(BrandCustomer.brand_id == brand_id)
            )
        )
        # Two scores rows per customer: rules must read the latest one.
        rng = np.random.default_rng(5)
        segments = ["champions", "loyal", "at_risk", "lost", "new_customers"]
        for as_of, weight in ((date(2020, 1, 1), 0.0), (last.date(), 1.0)):
            for customer_id in ids:
                session.add(
                    CustomerScore(
                        brand_id=brand_id,
                        customer_id=customer_id,
                        as_of=as_of,
                        segment=segments[int(rng.integers(len(segments)))],
                        r_score=int(rng.integers(1, 6)),
                        churn_risk=float(rng.random()) * weight,
                        p_alive=float(rng.random()),
                        clv_minor=int(rng.integers(0, 200_000)),
                        expected_next_order_at=datetime.combine(
                            last.date() + timedelta(int(rng.integers(0, 60))), time(), UTC
                        ),
                        explanations={},
                        computed_at=last,
                    )
                )
        slugs = list(session.scalars(select(Category.slug).where(Category.brand_id == brand_id)))
    return Generated(engine, brand_id, last + timedelta(days=1), len(ids), slugs)


def rules(slugs: list[str]) -> list[dict[str, Any]]:
    """Rules over every group of fields, nested, with windows and negations."""
    return [
        {
            "all": [
                {"field": "days_since_last_order", "op": "gte", "value": 30},
                {"not": {"field": "orders", "op": "gte", "value": 4}},
                {"field": "state", "op": "in", "value": ["SP", "RJ", "MG"]},
                {"field": "net_revenue", "op": "gte", "value": 100.00},
                {
                    "any": [
                        {"field": "churn_risk", "op": "gte", "value": 0.6},
                        {"field": "rfm_segment", "op": "in", "value": ["at_risk", "lost"]},
                    ]
                },
            ]
        },
        {
            "any": [
                {"field": "bought_category", "op": "in", "value": slugs[:2], "days": 180},
                {
                    "all": [
                        {"field": "aov", "op": "gte", "value": 150.00},
                        {"field": "returned", "op": "eq", "value": True},
                    ]
                },
            ]
        },
        {
            "all": [
                {"not": {"field": "review_score", "op": "lte", "value": 2}},
                {"field": "orders", "op": "gte", "value": 1, "days": 365},
                {"field": "channel", "op": "not_in", "value": ["app"]},
            ]
        },
        {
            "any": [
                {"field": "first_order_date", "op": "within_days", "value": 120},
                {"field": "expected_next_order_date", "op": "within_days", "value": 10},
                {"field": "clv", "op": "between", "value": [500.00, 900.00]},
                {"field": "birthday", "op": "within_days", "value": 30},
            ]
        },
        {
            "all": [
                {"field": "signup_date", "op": "gte", "value": "2020-01-01"},
                {"field": "r_score", "op": "in", "value": [4, 5]},
                {"not": {"field": "last_order_date", "op": "within_days", "value": 90}},
                {"field": "net_revenue", "op": "gte", "value": 50.00, "days": 400},
            ]
        },
    ]


def test_full_and_incremental_paths_select_the_same_members(generated: Generated) -> None:
    trees = [parse_rule(rule, money="units") for rule in rules(generated.slugs)]
    copy = HubCopy(generated.brand)
    with unit_of_work(generated.engine, write=False) as session:
        for tree in trees:
            query = compile_rule(tree)
            values = query.params(brand_id=generated.brand, now=generated.now)
            on_hub = set(session.execute(query.statement, values).scalars())
            in_duckdb = copy.members_of(session.connection(), query, values)
            assert 0 < len(on_hub) < generated.customers, len(on_hub)  # not vacuous
            assert in_duckdb == on_hub
        # All rules in one statement, as the nightly run evaluates them: with no current
        # members (segments that do not exist), every member is an entry.
        many = compile_many(trees, subset=False)
        values = many.params(brand_id=generated.brand, now=generated.now)
        flags = session.execute(many.statement, values).all()
        on_hub_together = [{row[0] for row in flags if row[i + 1]} for i in range(len(trees))]
        nobody = [-(i + 1) for i in range(len(trees))]
        diffs = copy.diffs(session.connection(), many, values, nobody)
    copy.close()
    assert [set(d.entered) for d in diffs] == on_hub_together
    assert [d.members for d in diffs] == [len(s) for s in on_hub_together]
    assert not any(d.exited for d in diffs)
