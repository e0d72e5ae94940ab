"""``recompra predict`` on a CDNOW snapshot given with ``--snapshot`` (no database)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
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


def test_predict_rejects_unknown_model_and_bad_dates(tmp_path: Path) -> None:
    command = ["predict", "--snapshot", str(tmp_path), "--out", str(tmp_path / "o")]
    assert CliRunner().invoke(app, [*command, "--model", "nope"]).exit_code != 0
    assert CliRunner().invoke(app, [*command, "--as-of", "June 1998"]).exit_code != 0
    assert not (tmp_path / "o").exists()
