"""The ``generate`` Typer command, mounted on a throw-away app."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from recompra.cli.generate import generate
from recompra.snapshot.io import read_table


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(generate)
    app.command("noop")(lambda: None)  # two commands so "generate" is a subcommand
    return app


def test_generate_snapshot_and_parquet(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        _app(), ["generate", "--customers", "500", "--seed", "1", "--out", str(tmp_path / "s")]
    )
    assert result.exit_code == 0, result.output
    assert "orders" in result.output
    assert read_table(tmp_path / "s", "customers").num_rows == 500

    result = runner.invoke(
        _app(), ["generate", "--orders", "2000", "--parquet", "--out", str(tmp_path / "p")]
    )
    assert result.exit_code == 0, result.output
    assert read_table(tmp_path / "p", "orders").num_rows > 1_500


def test_generate_rejects_bad_input() -> None:
    runner = CliRunner()
    assert runner.invoke(_app(), ["generate", "--parquet"]).exit_code != 0
    assert runner.invoke(_app(), ["generate", "--start", "yesterday"]).exit_code != 0
