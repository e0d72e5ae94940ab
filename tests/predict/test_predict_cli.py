"""``recompra predict`` on a CDNOW snapshot given with ``--snapshot`` (no database)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from recompra.cli.main import app
from recompra.predict.cdnow import cdnow_orders
from recompra.predict.rfm import Transactions
from recompra.snapshot.io import write_snapshot


def test_predict_writes_scores_and_backtest(
    tmp_path: Path, cdnow_transactions: Transactions
) -> None:
    snap = write_snapshot(tmp_path / "snap", {"orders": cdnow_orders(cdnow_transactions)})
    out = tmp_path / "out"
    command = ["predict", "--snapshot", str(snap), "--out", str(out), "--model", "bgnbd"]
    result = CliRunner().invoke(app, [*command, "--backtest", "--as-of", "1998-06-30"])
    assert result.exit_code == 0, result.output
    scores = pq.read_table(out / "scores.parquet")
    assert scores.num_rows == 2357
    assert scores.column("explanation_en").null_count == 0
    assert set(scores.column("model").to_pylist()) == {"bgnbd"}
    report = json.loads((out / "backtest.json").read_text())
    assert set(report["models"]) == {"bgnbd", "pareto", "mbgnbd"}
    assert report["models"]["bgnbd"]["metrics"]["mae"] > 0
    assert (out / "backtest_tracking.svg").read_text().startswith("<svg")
    assert (out / "scores.csv").exists()
    # The frequency buckets are printed with the model's and each baseline's holdout MAE.
    assert "Holdout MAE by repeat orders" in result.output
    first = report["models"]["bgnbd"]["by_frequency"][0]
    assert f"{first['mae']:.3f}" in result.output
    assert f"{first['same_rate_mae']:.3f}" in result.output


def test_predict_rejects_unknown_model_and_bad_dates(tmp_path: Path) -> None:
    command = ["predict", "--snapshot", str(tmp_path), "--out", str(tmp_path / "o")]
    assert CliRunner().invoke(app, [*command, "--model", "nope"]).exit_code != 0
    assert CliRunner().invoke(app, [*command, "--as-of", "June 1998"]).exit_code != 0
    assert not (tmp_path / "o").exists()


def test_backtest_json_puts_every_model_next_to_the_baselines(
    tmp_path: Path, cdnow_transactions: Transactions
) -> None:
    """``--backtest --json --test-fraction``: the split follows the fraction, every model
    carries the baselines it is compared with, and the comparison names the best one."""
    orders = cdnow_orders(cdnow_transactions)
    snap = write_snapshot(tmp_path / "snap", {"orders": orders})
    command = ["predict", "--snapshot", str(snap), "--out", str(tmp_path / "out")]
    options = ["--model", "bgnbd", "--as-of", "1998-06-30", "--backtest"]
    result = CliRunner().invoke(app, [*command, *options, "--test-fraction", "0.25", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    # Independent split: CDNOW's first purchase is 1997-01-01; a quarter of the span
    # up to 1998-06-30 is held out.
    first, last = date(1997, 1, 1), date(1998, 6, 30)
    holdout = round((last - first).days * 0.25)
    assert report["calibration_end"] == (last - timedelta(days=holdout)).isoformat()
    assert report["customers"] == 2357
    for name in ("bgnbd", "pareto", "mbgnbd"):
        model = report["models"][name]
        baselines = model["baselines"]
        assert {"same_rate", "recency", "rfm_gbm"} <= set(baselines)
        best = min(baselines, key=lambda b: baselines[b]["mae"])
        assert model["comparison"]["best_baseline"] == best
        margin = model["metrics"]["mae"] - baselines[best]["mae"]
        assert model["comparison"]["mae_margin"] == pytest.approx(margin)
        assert model["comparison"]["beats_baselines"] == (margin < 0)


def test_backtest_options_need_backtest(tmp_path: Path) -> None:
    command = ["predict", "--snapshot", str(tmp_path), "--out", str(tmp_path / "o")]
    assert CliRunner().invoke(app, [*command, "--json"]).exit_code != 0
    assert CliRunner().invoke(app, [*command, "--test-fraction", "0.2"]).exit_code != 0
