"""``recompra uplift`` and ``recompra loyalty roi``: JSON output, the table, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recompra.cli.main import app
from recompra.db import get_engine, unit_of_work
from recompra.hub.brands import DEFAULT_BRAND
from recompra.migrate import upgrade
from recompra.models import Brand

PACKAGED = Path(__file__).parents[2] / "src/recompra/automation/journeys"


@pytest.fixture
def store(home: Path) -> None:
    """The default brand in the private home's migrated database."""
    engine = get_engine()
    upgrade(engine)
    with unit_of_work(engine) as session:
        session.add(Brand(slug=DEFAULT_BRAND, name="Loja"))


def run(*args: str) -> tuple[int, str]:
    # A wide terminal, so the table's cells are not folded.
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_uplift_reports_each_journey_and_why_it_has_no_figures_yet(store: None) -> None:
    assert run("journeys", "apply", str(PACKAGED / "post_purchase_thanks.yaml"))[0] == 0
    code, output = run("uplift", "--json")
    assert code == 0
    report = json.loads(output)
    (journey,) = report["journeys"]
    assert (journey["key"], journey["holdout_percent"]) == ("post_purchase_thanks", 10.0)
    assert (journey["comparison"], journey["reason"]) == (None, "no_entries")
    code, output = run("uplift", "--journey", "post_purchase_thanks")
    assert code == 0
    assert "post_purchase_thanks" in output
    assert "no_entries" in output
    code, output = run("uplift", "--journey", "nope")
    assert code == 1
    assert "journey 'nope' not found" in output


def test_loyalty_roi_says_why_there_is_no_estimate(store: None) -> None:
    code, output = run("loyalty", "roi", "--json")
    assert code == 0
    report = json.loads(output)
    assert (report["as_of"], report["reason"], report["roi"]) == (None, "no_orders", None)
    code, output = run("loyalty", "roi")
    assert code == 0
    assert "no estimate: no_orders" in output
