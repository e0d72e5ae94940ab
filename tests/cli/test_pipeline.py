"""The pipeline through the real command line: generate -> analyze -> predict -> recommend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from recompra import pipeline
from recompra.cli.main import app
from recompra.db import get_engine, unit_of_work
from recompra.models import Customer, CustomerScore

pytestmark = pytest.mark.slow


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_generate_analyze_predict_recommend(home: Path) -> None:
    runner = CliRunner()
    _ok(runner, "generate", "--customers", "600", "--seed", "5")
    first = json.loads(_ok(runner, "stats", "--json"))
    _ok(runner, "generate", "--customers", "600", "--seed", "5")
    assert json.loads(_ok(runner, "stats", "--json")) == first  # idempotent
    assert first["customers"] == 600

    _ok(runner, "analyze")
    summary = json.loads((home / "analytics" / "default" / "summary.json").read_text())
    assert (home / "analytics" / "default" / "report.html").exists()
    _ok(runner, "predict", "--backtest")
    assert (home / "predictions" / "default" / "backtest.json").exists()
    _ok(runner, "recommend", "refresh")
    offers_path = home / "recommendations" / "default" / "next_best_offer.parquet"
    assert set(pd.read_parquet(offers_path)["incentive"]) == {"none"}  # relevance only

    with unit_of_work(get_engine(), write=False) as session:
        customers = session.scalar(select(func.count()).select_from(Customer))
        as_of = session.scalars(select(CustomerScore.as_of).distinct()).all()
        # Analytics and predictions fill the same row per customer and date.
        assert [d.isoformat() for d in as_of] == [summary["as_of"]]
        rows = session.scalars(select(CustomerScore)).all()
        scored = [r for r in rows if r.segment is not None]
        predicted = [r for r in rows if r.p_alive is not None]
        assert len(scored) == summary["customers_total"]
        assert len(predicted) == len(scored)
        assert len(rows) <= customers  # type: ignore[operator]
        explained = rows[0].explanations
        assert explained["pt-BR"]
        assert explained["en"]


def _segments_and_incentives(home: Path) -> pd.DataFrame:
    """Each offered customer's stored segment and the incentives of their offers."""
    offers = pd.read_parquet(home / "recommendations" / "default" / "next_best_offer.parquet")
    with unit_of_work(get_engine(), write=False) as session:
        stored = session.execute(select(CustomerScore.customer_id, CustomerScore.segment)).all()
    segments = pd.DataFrame(stored, columns=["customer_id", "segment"])
    return offers.merge(segments, on="customer_id", how="left")


def test_recommend_refresh_with_segments_applies_the_offer_policy(home: Path) -> None:
    runner = CliRunner()
    # No stored segments yet: --segments refuses instead of silently ignoring the policy.
    _ok(runner, "generate", "--customers", "800", "--seed", "11")
    refused = runner.invoke(app, ["recommend", "refresh", "--segments"])
    assert refused.exit_code != 0
    _ok(runner, "analyze")
    _ok(runner, "predict")
    _ok(runner, "recommend", "refresh", "--segments")
    offers = _segments_and_incentives(home)
    by_segment = offers.groupby("segment")["incentive"].agg(set).to_dict()
    # The policy table of docs/recommend.md; CLV only ever turns a discount into points.
    expected = {
        "champions": {"none"},
        "loyal": {"loyalty_points"},
        "potential_loyalists": {"loyalty_points"},
        "new_customers": {"free_shipping"},
        "promising": {"free_shipping"},
        "need_attention": {"free_shipping"},
    }
    for segment, incentives in expected.items():
        if segment in by_segment:
            assert by_segment[segment] == incentives, segment
    win_back = set().union(*(by_segment.get(s, set()) for s in ("at_risk", "hibernating", "lost")))
    assert "discount" in win_back
    assert win_back <= {"discount", "loyalty_points"}
    assert len(set(offers["incentive"])) >= 3  # offers differ by segment


def test_pipeline_exports_the_snapshot_once(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    _ok(runner, "generate", "--customers", "400", "--seed", "3")
    exports: list[Any] = []
    real_export = pipeline.export_snapshot

    def counting_export(*args: Any, **kwargs: Any) -> Any:
        exports.append(args)
        return real_export(*args, **kwargs)

    monkeypatch.setattr(pipeline, "export_snapshot", counting_export)
    _ok(runner, "pipeline")
    assert len(exports) == 1
    summary = json.loads((home / "analytics" / "default" / "summary.json").read_text())
    with unit_of_work(get_engine(), write=False) as session:
        dates = session.scalars(select(CustomerScore.as_of).distinct()).all()
        predicted = session.scalar(select(func.count()).where(CustomerScore.p_alive.is_not(None)))
    assert [d.isoformat() for d in dates] == [summary["as_of"]]
    assert predicted == summary["customers_total"]
    assert (home / "predictions" / "default" / "backtest.json").exists()
    offers = _segments_and_incentives(home)
    assert len(set(offers["incentive"])) >= 2  # the pipeline runs the offer policy
