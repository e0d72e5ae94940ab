"""KPIs only from the brand's ``recompra analyze`` outputs (409 before), and safe output reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from apitest import Keys, auth
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from recompra.db import unit_of_work
from recompra.models import Brand
from recompra.reads import outputs
from samplestore import SampleStore

SUMMARY = {
    "as_of": "2024-06-30",
    "customers_total": 7,
    "orders_total": 11,
    "revenue_minor": 123_456,
    "repurchase_rate": 0.25,
    "retention_rate": 0.5,
    "average_order_value_minor": 11_223.4,
    "historic_clv_minor": 17_636.6,
    "nps": float("nan"),
}


def _write(directory: Path, name: str, rows: list[dict[str, Any]]) -> None:
    pq.write_table(pa.Table.from_pylist(rows), directory / f"{name}.parquet")


def _slug(engine: Engine, brand_id: int) -> str:
    with unit_of_work(engine, write=False) as session:
        slug = session.scalar(select(Brand.slug).where(Brand.id == brand_id))
    assert slug
    return str(slug)


def _analyse(app: FastAPI, slug: str) -> Path:
    directory: Path = app.state.settings.home / "analytics" / slug
    directory.mkdir(parents=True)
    (directory / "summary.json").write_text(json.dumps(SUMMARY).replace("NaN", "null"))
    period = {
        "period": "2024-05",
        "revenue_minor": 5000,
        "refunds_minor": 100,
        "orders": 2,
        "active_customers": 2,
        "new_customers": 1,
        "returning_customers": 1,
        "average_order_value_minor": 2500.4,
        "purchase_frequency": 1.0,
        "retention_rate": float("nan"),
        "churn_rate": float("nan"),
        "repurchase_rate": 0.5,
        "nps": None,
        "reviews": 0,
    }
    _write(
        directory,
        "kpis_by_period",
        [
            {"granularity": "month", **period},
            {"granularity": "month", **period, "period": "2024-04", "retention_rate": 0.75},
            {"granularity": "year", **period, "period": "2024"},
        ],
    )
    _write(
        directory,
        "segments",
        [
            {"segment": "champions", "customers": 3, "customer_share": 0.6, "revenue_minor": 900},
            {"segment": "lost", "customers": 2, "customer_share": 0.4, "revenue_minor": 100},
            {"segment": "loyal", "customers": 0, "customer_share": 0.0, "revenue_minor": 0},
        ],
    )
    _write(
        directory,
        "cohorts",
        [
            {"cohort_month": "2024-04-01", "months_since_first": m, "cohort_size": 4,
             "retention_rate": r}
            for m, r in ((0, 1.0), (1, 0.5))
        ],
    )  # fmt: skip
    return directory


ANALYTICS_PATHS = ("/v1/kpis/summary", "/v1/kpis", "/v1/segments", "/v1/cohorts")


def _assert_not_analysed(client: TestClient, key: str) -> None:
    for path in ANALYTICS_PATHS:
        response = client.get(path, headers=auth(key))
        assert response.status_code == 409, path
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("not_analysed", "brand_id"), path
        assert "analytics have not run yet for this brand" in error["message"], path
        assert "`recompra analyze --brand loja-" in error["message"], path


def test_without_outputs_kpis_answer_not_analysed(
    client: TestClient, keys: Keys, store: SampleStore
) -> None:
    # No second definition computed from the database: a clear 409 until analyze runs.
    _assert_not_analysed(client, keys.read_a)


def test_a_summary_without_an_as_of_date_is_not_analysed(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine, app: FastAPI
) -> None:
    directory = _analyse(app, _slug(engine, store.brand_a))
    (directory / "summary.json").write_text(json.dumps({**SUMMARY, "as_of": None, "nps": 0}))
    _assert_not_analysed(client, keys.read_a)


def test_a_missing_table_is_not_analysed_for_its_endpoint_only(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine, app: FastAPI
) -> None:
    directory = _analyse(app, _slug(engine, store.brand_a))
    (directory / "cohorts.parquet").unlink()
    assert client.get("/v1/cohorts", headers=auth(keys.read_a)).status_code == 409
    assert client.get("/v1/kpis", headers=auth(keys.read_a)).status_code == 200


def test_analytics_outputs_are_the_single_definition(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine, app: FastAPI
) -> None:
    _analyse(app, _slug(engine, store.brand_a))
    summary = client.get("/v1/kpis/summary", headers=auth(keys.read_a)).json()
    assert summary["analytics_as_of"] == "2024-06-30"
    assert (summary["revenue_minor"], summary["orders"], summary["customers"]) == (123_456, 11, 7)
    assert (summary["aov_minor"], summary["historic_clv_minor"]) == (11_223, 17_637)
    assert (summary["retention_rate"], summary["repurchase_rate"], summary["nps"]) == (
        0.5,
        0.25,
        None,
    )
    kpis = client.get("/v1/kpis", headers=auth(keys.read_a)).json()
    assert [k["period"] for k in kpis["items"]] == ["2024-04", "2024-05"]
    assert kpis["items"][0]["retention_rate"] == 0.75
    assert kpis["items"][1]["retention_rate"] is None
    assert kpis["items"][1]["customers"] == 2
    assert kpis["items"][1]["returns_minor"] == 100
    years = client.get("/v1/kpis?period=year", headers=auth(keys.read_a)).json()
    assert [k["period"] for k in years["items"]] == ["2024"]
    segments = client.get("/v1/segments", headers=auth(keys.read_a)).json()
    assert [(s["segment"], s["customers"]) for s in segments["items"]] == [
        ("champions", 3),
        ("lost", 2),
    ]
    assert segments["total_customers"] == 5
    cohorts = client.get("/v1/cohorts?months=2", headers=auth(keys.read_a)).json()
    assert cohorts == {"items": [{"cohort": "2024-04", "size": 4, "retention": [1.0, 0.5]}]}
    # Months without buyers (no row) are 0 up to the as-of month (2024-06).
    cohorts = client.get("/v1/cohorts?months=12", headers=auth(keys.read_a)).json()
    assert cohorts["items"][0]["retention"] == [1.0, 0.5, 0.0]
    # Brand B has no outputs of its own: it never sees brand A's.
    _assert_not_analysed(client, keys.read_b)


def test_a_slug_that_is_not_one_path_component_reads_as_not_computed(
    engine: Engine, store: SampleStore, app: FastAPI, tmp_path: Path
) -> None:
    home: Path = app.state.settings.home
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "summary.json").write_text(json.dumps(SUMMARY))
    (home / "analytics").mkdir(parents=True, exist_ok=True)
    (home / "analytics" / "link").symlink_to(outside)
    assert outputs.brand_output_dir(home, "analytics", "link") is None
    for slug in ("..", "../outside", "a/b", "", ".", "x\\.."):
        assert not outputs.safe_component(slug)
        assert outputs.brand_output_dir(home, "analytics", slug) is None
    with unit_of_work(engine) as session:
        session.execute(update(Brand).where(Brand.id == store.brand_a).values(slug="link"))
    with unit_of_work(engine, write=False) as session:
        assert outputs.analytics_outputs(session, home, store.brand_a) is None


def test_backtests_are_read_and_the_svg_is_sanitised(
    engine: Engine, store: SampleStore, app: FastAPI
) -> None:
    home: Path = app.state.settings.home
    directory = home / "predictions" / _slug(engine, store.brand_a)
    directory.mkdir(parents=True)
    (directory / "backtest.json").write_text(json.dumps({"chosen_model": "pareto"}))
    (directory / "backtest_tracking.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="640" onload="alert(1)">'
        "<script>alert(2)</script><title>t</title>"
        '<a href="javascript:alert(3)"><text>x</text></a>'
        '<polyline points="0,0 1,1" stroke="red" onclick="alert(4)"/>'
        "<foreignObject><div>y</div></foreignObject></svg>"
    )
    with unit_of_work(engine, write=False) as session:
        found = outputs.backtests(session, home, store.brand_a)
        assert outputs.backtests(session, home, store.brand_b) is None
    assert found is not None
    assert found.report == {"chosen_model": "pareto"}
    svg = found.tracking_svg or ""
    for good in ("<polyline", 'stroke="red"', "<title>t</title>"):
        assert good in svg, good
    for bad in ("alert", "script", "onload", "onclick", "href", "foreignObject", "width"):
        assert bad not in svg, bad
