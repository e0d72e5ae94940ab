"""The models page says when the chosen model loses to a baseline, and what a degenerate
fit means, in real Chromium at desktop and phone widths, in pt-BR and English.

The back-test is the issue's store: BG/NBD chosen with a holdout MAE of 1.124, worse than
the naive "same rate as before" (1.109), and a no-dropout fit with ``a`` at its boundary.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from webtest import VIEWPORTS, Server, screenshot, sign_in

from recompra.formatting import format_number

pytestmark = pytest.mark.browser

BASELINES = {
    "same_rate": {"mae": 1.109, "rmse": 1.9, "total_error_pct": 12.0},
    "recency": {"mae": 1.151, "rmse": 2.0, "total_error_pct": -4.0},
    "rfm_gbm": {"mae": 1.132, "rmse": 1.95, "total_error_pct": 2.0},
}
WORDS = {
    "pt-BR": ("Atenção", "ingênua: mesmo ritmo de antes", "ajuste degenerado", "parâmetro a"),
    "en": ("Warning", "naive: same rate as before", "degenerate fit", "parameter a"),
}


@pytest.fixture
def losing_backtest(server: Server) -> Iterator[dict[str, Any]]:
    """A ``backtest.json`` whose chosen model loses to the naive baseline (removed after)."""
    directory = server.home / "predictions" / server.slug
    directory.mkdir(parents=True)
    warnings = [
        {"code": "no_dropout", "message_en": "-", "message_pt": "-"},
        {"code": "boundary_a", "message_en": "-", "message_pt": "-"},
    ]
    report = {
        "calibration_end": "2011-06-01",
        "observation_end": "2011-12-09",
        "chosen_model": "bgnbd",
        "models": {
            "bgnbd": {
                "metrics": {"mae": 1.124, "rmse": 2.1, "mae_naive": 1.109, "total_error_pct": 9.0},
                "baselines": BASELINES,
                "warnings": warnings,
            },
        },
        "selection": {"rule": "lowest holdout MAE"},
    }
    (directory / "backtest.json").write_text(json.dumps(report))
    try:
        yield report
    finally:
        shutil.rmtree(directory)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("locale", list(WORDS))
def test_models_page_says_the_chosen_model_loses_to_the_naive_baseline(
    tab_at: Any, server: Server, losing_backtest: dict[str, Any], viewport: str, locale: str
) -> None:
    tab = tab_at(viewport)
    sign_in(tab, server)
    tab.goto(f"{server.url}/dashboard/lang?to={locale}&next=/dashboard/models")
    tab.wait_for_url("**/dashboard/models")
    attention, naive, degenerate, parameter = WORDS[locale]
    # Every baseline is a row next to the model, with its own MAE.
    for name, metrics in BASELINES.items():
        cell = tab.locator(f"#backtests tr[data-baseline={name}] [data-metric=mae]")
        assert cell.inner_text() == format_number(metrics["mae"], locale, 3)
    assert naive in tab.locator("#backtests tr[data-baseline=same_rate]").inner_text()
    # The verdict: 1.124 > 1.109, so the page says the chosen model loses, and to whom.
    verdict = tab.locator("[data-verdict]")
    assert verdict.get_attribute("data-verdict") == "loses"
    text = verdict.inner_text()
    assert attention in text
    assert naive in text
    assert format_number(1.124, locale, 3) in text
    assert format_number(1.109, locale, 3) in text
    # The degenerate fit in plain words, one sentence per warning.
    items = tab.locator("#fit-warnings li")
    assert items.count() == 2
    assert degenerate in items.nth(0).inner_text()
    assert parameter in items.nth(1).inner_text()
    width = VIEWPORTS[viewport][0]
    assert tab.evaluate("document.documentElement.scrollWidth") <= width + 1
    screenshot(tab, f"{viewport}-{locale}-models-baselines")
