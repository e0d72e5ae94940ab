"""``recompra generate``: into the database (and a snapshot), or streamed to Parquet only."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from recompra.cli.main import app
from recompra.snapshot.io import read_table


def test_generate_snapshot_and_parquet(home: Path) -> None:
    runner = CliRunner()
    snapshot = home / "s"
    result = runner.invoke(
        app, ["generate", "--customers", "500", "--seed", "1", "--out", str(snapshot)]
    )
    assert result.exit_code == 0, result.output
    assert read_table(snapshot, "customers").num_rows == 500
    stats = json.loads(runner.invoke(app, ["stats", "--json"]).output)
    assert stats["customers"] == 500

    parts = home / "p"
    result = runner.invoke(app, ["generate", "--orders", "2000", "--parquet", "--out", str(parts)])
    assert result.exit_code == 0, result.output
    assert "orders" in result.output
    assert read_table(parts, "orders").num_rows > 1_500


def test_generate_rejects_bad_input() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["generate", "--parquet"]).exit_code != 0
    assert runner.invoke(app, ["generate", "--start", "yesterday"]).exit_code != 0
