"""The campaign response KPI's SQL (analytics.campaign) on DuckDB against the same
ratios computed with plain pandas on a hand-made set of deliveries and responses."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from recompra.analytics.campaign import (
    DELIVERIES_VIEW,
    LEVELS,
    RESPONSES_VIEW,
    campaign_response_sql,
)
from recompra.engines.registry import open_engine

DELIVERIES = pd.DataFrame(
    {
        "journey": ["a", "a", "a", "a", "b"],
        "node": ["n1", "n1", "n2", "n2", "m"],
        "segment": ["vip", "new", "vip", "vip", "new"],
        "channel": ["email", "email", "webhook", "email", "email"],
        "customer_id": [1, 2, 1, 3, 2],
    }
)
RESPONSES = pd.DataFrame(
    {
        "journey": ["a", "a", "a", "b", "c"],
        "node": ["n1", "n1", "n2", "m", "x"],
        "segment": ["vip", "vip", "vip", "new", "vip"],
        "kind": ["click", "order", "order", "open", "order"],
        "revenue_minor": [0, 5_000, 7_000, 0, 900],
        "customer_id": [1, 1, 3, 2, 9],
    }
)


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_the_response_rate_is_attributed_orders_per_delivered_message(level: str) -> None:
    keys = list(LEVELS[level])
    with open_engine("duckdb") as engine:
        engine.register_tables(
            {
                DELIVERIES_VIEW: pa.Table.from_pandas(DELIVERIES),
                RESPONSES_VIEW: pa.Table.from_pandas(RESPONSES),
            }
        )
        rows = {
            tuple(r[k] for k in keys): r
            for r in engine.query(campaign_response_sql(level)).to_pylist()
        }
    groups = set(map(tuple, DELIVERIES[keys].to_numpy().tolist())) | set(
        map(tuple, RESPONSES[keys].to_numpy().tolist())
    )
    assert set(rows) == groups
    for group in groups:
        sent = DELIVERIES[(DELIVERIES[keys] == list(group)).all(axis=1)]
        answered = RESPONSES[(RESPONSES[keys] == list(group)).all(axis=1)]
        orders = int((answered["kind"] == "order").sum())
        clicks = int((answered["kind"] == "click").sum())
        emails = int((sent["channel"] == "email").sum())
        row = rows[group]
        assert (row["delivered"], row["delivered_email"], row["clicks"]) == (
            len(sent),
            emails,
            clicks,
        )
        assert row["attributed_orders"] == orders
        assert row["attributed_revenue_minor"] == int(answered["revenue_minor"].sum())
        assert row["response_rate"] == (orders / len(sent) if len(sent) else None)
        assert row["click_rate"] == (clicks / emails if emails else None)
