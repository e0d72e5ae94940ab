"""The pipeline through the real command line: generate -> analyze -> predict -> recommend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

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
    assert (home / "recommendations" / "default").is_dir()

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
