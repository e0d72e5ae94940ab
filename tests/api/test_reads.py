"""Read endpoints return exact values computed from the rows.

KPIs are the analytics outputs (``analysed``: the real ``recompra analyze`` run on the
sample store); the expected values below recompute them from the rows, by the definitions
of ``recompra.analytics`` (docs/analytics.md), not from the outputs.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from recompra.analytics import SegmentKey
from recompra.db import unit_of_work
from recompra.models import CustomerScore, Order, Return
from recompra.snapshot.schema import NON_PURCHASE_STATUSES
from samplestore import SampleStore

CHURN_DAYS = 180  # the analytics default


def test_summary_matches_the_rows(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine, analysed: Path
) -> None:
    body = client.get("/v1/kpis/summary", headers=auth(keys.read_a)).json()
    with unit_of_work(engine, write=False) as session:
        purchase = (Order.brand_id == store.brand_a, Order.status.not_in(NON_PURCHASE_STATUSES))
        gross, orders, last = session.execute(
            select(func.sum(Order.total_minor), func.count(), func.max(Order.purchased_at)).where(
                *purchase
            )
        ).one()
        as_of = last.date()  # the default as-of: the day of the last purchase
        # Refunds recorded up to the as-of day, on purchases (each return is half an order,
        # so no order's net value needs the floor at 0).
        refunds = session.execute(
            select(func.sum(Return.amount_minor))
            .join(Order, Order.id == Return.order_id)
            .where(*purchase, func.date(Return.created_at) <= as_of.isoformat())
        ).scalar_one()
        per_customer = session.execute(
            select(Order.customer_id, func.count(), func.max(Order.purchased_at))
            .where(*purchase)
            .group_by(Order.customer_id)
        ).all()
    customers = len(per_customer)
    net = gross - refunds
    churned = sum(
        1 for *_, latest in per_customer if latest.date() <= as_of - timedelta(CHURN_DAYS)
    )
    assert body["analytics_as_of"] == as_of.isoformat()
    assert body["revenue_minor"] == net  # net of refunds, as analytics defines revenue
    assert body["orders"] == orders
    assert body["customers"] == customers
    assert body["aov_minor"] == round(gross / orders)  # paid per order, before refunds
    assert body["repurchase_rate"] == sum(1 for _, n, _ in per_customer if n >= 2) / customers
    assert body["historic_clv_minor"] == round(net / customers)
    assert body["retention_rate"] == 1 - churned / customers  # 1 - churn, not repeat share
    assert body["scores_as_of"] == "2024-06-30"


def test_monthly_kpis_add_up(client: TestClient, keys: Keys, analysed: Path) -> None:
    summary = client.get("/v1/kpis/summary", headers=auth(keys.read_a)).json()
    months = client.get("/v1/kpis", headers=auth(keys.read_a)).json()["items"]
    years = client.get("/v1/kpis?period=year", headers=auth(keys.read_a)).json()["items"]
    for rows in (months, years):
        assert sum(m["revenue_minor"] for m in rows) == summary["revenue_minor"]
        assert sum(m["orders"] for m in rows) == summary["orders"]
        assert sum(m["new_customers"] for m in rows) == summary["customers"]
    assert months[0]["retention_rate"] is None  # nobody was active before the first month


def test_rfm_cells_and_segments_cover_the_scored_customers(
    client: TestClient, keys: Keys, store: SampleStore, analysed: Path
) -> None:
    grid = client.get("/v1/rfm", headers=auth(keys.read_a)).json()
    segments = client.get("/v1/segments", headers=auth(keys.read_a)).json()
    assert sum(c["customers"] for c in grid["cells"]) == len(store.customers_a)
    assert segments["total_customers"] == len(store.customers_a)
    cell = grid["cells"][0]
    drill = client.get(
        f"/v1/segments/customers?r={cell['r']}&f={cell['f']}", headers=auth(keys.read_a)
    ).json()
    assert len(drill["items"]) == cell["customers"]
    assert all((c["r_score"], c["f_score"]) == (cell["r"], cell["f"]) for c in drill["items"])


def test_profile_has_latest_scores_and_history(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine
) -> None:
    cid = store.customers_a[3]
    profile = client.get(f"/v1/customers/{cid}", headers=auth(keys.read_a)).json()
    history = client.get(f"/v1/customers/{cid}/segments", headers=auth(keys.read_a)).json()
    with unit_of_work(engine, write=False) as session:
        latest = (
            session.execute(
                select(CustomerScore)
                .where(CustomerScore.customer_id == cid)
                .order_by(CustomerScore.as_of.desc())
            )
            .scalars()
            .first()
        )
    assert latest is not None
    assert profile["score"]["segment"] == latest.segment
    assert profile["score"]["clv_minor"] == latest.clv_minor
    assert profile["score"]["explanations"] == latest.explanations
    assert [h["as_of"] for h in history] == ["2024-03-31", "2024-06-30"]
    assert profile["points"] is None


def test_profile_stats_match_the_rows(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine
) -> None:
    """Orders, spend and returns of the brand-A customer with the most returned, summed
    here in plain SQL from the rows (the profile's statement is written differently)."""
    with engine.connect() as connection:
        cid, returned = connection.execute(
            text(
                "SELECT o.customer_id, SUM(r.amount_minor) FROM returns r "
                "JOIN orders o ON o.id = r.order_id WHERE o.brand_id = :brand "
                "GROUP BY o.customer_id ORDER BY 2 DESC, 1 LIMIT 1"
            ),
            {"brand": store.brand_a},
        ).one()
        orders, spent = connection.execute(
            text(
                "SELECT COUNT(*), SUM(total_minor) FROM orders WHERE brand_id = :brand "
                "AND customer_id = :customer AND status NOT IN ('canceled', 'unavailable')"
            ),
            {"brand": store.brand_a, "customer": cid},
        ).one()
    assert returned > 0
    stats = client.get(f"/v1/customers/{cid}", headers=auth(keys.read_a)).json()["stats"]
    assert (stats["orders"], stats["spent_minor"], stats["returned_minor"]) == (
        orders,
        spent,
        returned,
    )


def test_churn_list_is_ranked(client: TestClient, keys: Keys) -> None:
    items = client.get("/v1/scores/churn?limit=10", headers=auth(keys.read_a)).json()["items"]
    risks = [c["churn_risk"] for c in items]
    assert risks == sorted(risks, reverse=True)
    high = client.get("/v1/scores/churn?min_risk=0.9", headers=auth(keys.read_a)).json()
    assert all(c["churn_risk"] >= 0.9 for c in high["items"])


def test_search_by_email_fragment(client: TestClient, keys: Keys, store: SampleStore) -> None:
    profile = client.get(f"/v1/customers/{store.customers_a[2]}", headers=auth(keys.read_a))
    email = profile.json()["email"]
    found = client.get(f"/v1/customers?q={email[:8].upper()}", headers=auth(keys.read_a)).json()
    assert store.customers_a[2] in {c["id"] for c in found["items"]}


def test_segment_drill_down_takes_the_analytics_keys(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine
) -> None:
    with unit_of_work(engine, write=False) as session:
        counts = dict(
            session.execute(
                select(CustomerScore.segment, func.count())
                .where(CustomerScore.brand_id == store.brand_a, CustomerScore.as_of == store.as_of)
                .group_by(CustomerScore.segment)
            ).all()
        )
    for key in SegmentKey:
        body = client.get(
            f"/v1/segments/customers?segment={key}&limit=200", headers=auth(keys.read_a)
        ).json()
        assert len(body["items"]) == counts.get(key, 0), key
        assert {c["segment"] for c in body["items"]} <= {key.value}
    # A key analytics never emits is refused, not answered with an empty list.
    for retyped in ("cant_lose", "new"):
        response = client.get(
            f"/v1/segments/customers?segment={retyped}", headers=auth(keys.read_a)
        )
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "segment"
