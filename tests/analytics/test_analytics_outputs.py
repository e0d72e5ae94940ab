"""write_outputs, the HTML report and the ``analyze`` command on the hand-made snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from recompra.analytics import run_analytics
from recompra.analytics.outputs import write_outputs
from recompra.analytics.report import render_report
from recompra.cli.main import app
from recompra.formatting import format_money

from ._handmade import write_handmade


def test_write_outputs_tables_summary_and_report(tmp_path: Path) -> None:
    snapshot = write_handmade(tmp_path / "snap")
    result = run_analytics(snapshot, as_of="2024-06-30", churn_days=60)
    out = write_outputs(result, tmp_path / "out")
    for name in result.tables():
        assert (out / f"{name}.parquet").exists()
        assert (out / f"{name}.csv").exists()
    scores = pd.read_parquet(out / "scores.parquet")
    assert len(scores) == 5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["repurchase_rate"] == 0.4
    assert summary["customers_total"] == 5
    assert summary["average_order_value_minor"] == 2687.5
    html = (out / "report.html").read_text()
    assert html.count("<svg") == 4
    assert "<script" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    # The report is in pt-BR with R$ amounts (Babel's pt-BR rules); report.en.html in English.
    assert '<html lang="pt-BR">' in html
    assert "Precisam de atenção" in html
    assert "Receita líquida" in html
    assert f"<b>{format_money(summary['revenue_minor'], 'pt-BR')}</b>" in html
    assert "R$\u00a0" in format_money(summary["revenue_minor"], "pt-BR")
    english = (out / "report.en.html").read_text()
    assert '<html lang="en">' in english
    assert "Net revenue" in english
    assert f"<b>{format_money(summary['revenue_minor'], 'en')}</b>" in english
    assert english == render_report(result, locale="en")


def test_analyze_command(tmp_path: Path) -> None:
    snapshot = write_handmade(tmp_path / "snap")
    out = tmp_path / "out"
    command = ["analyze", "--snapshot", str(snapshot), "--out", str(out)]
    run = CliRunner().invoke(app, [*command, "--as-of", "2024-06-30", "--churn-days", "60"])
    assert run.exit_code == 0, run.output
    assert json.loads((out / "summary.json").read_text())["churn_rate"] == 0.4
    assert CliRunner().invoke(app, [*command, "--engine", "oracle"]).exit_code != 0
    assert CliRunner().invoke(app, [*command, "--as-of", "30/06/2024"]).exit_code != 0
