"""The commercial commands end to end on the Olist funnel (import, funnel, forecast)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from realdata import require_shared
from recompra.cli.main import app


def test_import_funnel_and_forecast_as_json(home: Path) -> None:
    directory = require_shared("olist_marketing_funnel")
    runner = CliRunner()
    imported = runner.invoke(app, ["import", "olist-funnel", str(directory)])
    assert imported.exit_code == 0, imported.output
    funnel = runner.invoke(app, ["funnel", "--by", "year", "--json"])
    assert funnel.exit_code == 0, funnel.output
    report = json.loads(funnel.output)
    leads = pd.read_csv(directory / "olist_marketing_qualified_leads_dataset.csv.gz")
    per_year = leads["first_contact_date"].str[:4].value_counts().sort_index()
    assert [(g["group"], g["leads"]) for g in report["groups"]] == list(per_year.items())
    forecast = runner.invoke(app, ["forecast", "deals", "--backtest", "--json"])
    wape = json.loads(forecast.output)["backtest"]["wape"]
    assert wape["lag_cohort"] < wape["naive_last_month"]
    maturity = json.loads(runner.invoke(app, ["maturity", "--json"]).output)
    pipeline = next(d for d in maturity["dimensions"] if d["key"] == "pipeline_forecast")
    assert pipeline["level"] == 2
    bad = runner.invoke(app, ["funnel", "--by", "planet"])
    assert bad.exit_code != 0
