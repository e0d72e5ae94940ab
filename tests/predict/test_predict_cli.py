"""``recompra predict`` command function, run through a Typer app on a CDNOW snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import typer
from typer.testing import CliRunner

from recompra.cli.predict import predict
from recompra.predict.cdnow import cdnow_orders
from recompra.predict.rfm import Transactions
from recompra.snapshot.io import write_snapshot


def test_predict_writes_scores_and_backtest(
    tmp_path: Path, cdnow_transactions: Transactions
) -> None:
    snap = write_snapshot(tmp_path / "snap", {"orders": cdnow_orders(cdnow_transactions)})
    app = typer.Typer()
    app.command()(predict)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, [str(snap), str(out), "--model", "bgnbd", "--backtest", "--as-of", "1998-06-30"]
    )
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


def test_predict_rejects_unknown_model(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(predict)
    result = CliRunner().invoke(app, [str(tmp_path), str(tmp_path / "o"), "--model", "nope"])
    assert result.exit_code != 0
