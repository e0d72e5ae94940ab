"""The models page: a plain-language summary, then the back-tests for the data scientist.

``backtest.json`` (``recompra predict --backtest``) states its selection rule and churn
reason as English sentences. They are shown through a mapping to message keys, so a
pt-BR page never shows English; a sentence the mapping does not know is left out rather
than shown untranslated (the numbers beside it still tell the story).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from recompra.config import Settings
from recompra.reads import outputs
from recompra.web import charts
from recompra.web.context import Page, build_page, read_unit
from recompra.web.texts.predict import MESSAGES as PREDICT_MESSAGES
from recompra.web.views.common import render

router = APIRouter(include_in_schema=False)

#: Display names of the repeat-purchase models and churn methods (proper names of
#: published models, the same in both languages) and the message key of the methods.
MODEL_NAMES = {"bgnbd": "BG/NBD", "pareto": "Pareto/NBD", "mbgnbd": "MBG/NBD"}
CHURN_METHODS = {"model": "models.method.model", "classifier": "models.method.classifier"}
#: predict/ sentences -> message keys (see the module docstring).
SELECTION_RULES = {
    "lowest holdout MAE": "models.rule.lowest_mae",
    "highest log-likelihood (history too short to back-test)": "models.rule.likelihood",
    "requested": "models.rule.requested",
}
CHURN_REASONS = {
    "history shorter than three churn windows": "models.reason.short_history",
    "too few customers or a single outcome class": "models.reason.few_customers",
    "lower Brier score on the time split": "models.reason.lower_brier",
    "lower or equal Brier score on the time split": "models.reason.lower_or_equal_brier",
    "requested": "models.reason.requested",
}
CLASSIFIER_NOT_USED = "classifier requested but not used: "


def churn_reason_keys(reason: str | None) -> list[str]:
    """Message keys for a churn ``reason`` (empty when it is not a known sentence)."""
    if not reason:
        return []
    if reason.startswith(CLASSIFIER_NOT_USED):
        inner = CHURN_REASONS.get(reason[len(CLASSIFIER_NOT_USED) :])
        return ["models.reason.classifier_not_used", inner] if inner else []
    known = CHURN_REASONS.get(reason)
    return [known] if known else []


def _days_between(start: Any, end: Any) -> int | None:
    try:
        return (date.fromisoformat(str(end)) - date.fromisoformat(str(start))).days
    except ValueError:
        return None


def backtest_view(report: dict[str, Any], page: Page) -> dict[str, Any]:
    """The parts of ``backtest.json`` the page shows, translated (missing values: dashes)."""
    chosen = report.get("chosen_model")
    models = report.get("models") or {}
    rows = []
    for name, model in models.items() if isinstance(models, dict) else []:
        metrics = (model or {}).get("metrics") or {}
        rows.append(
            {
                "model": str(name),
                "name": MODEL_NAMES.get(str(name), str(name)),
                "chosen": name == chosen,
                "mae": outputs.clean(metrics.get("mae")),
                "rmse": outputs.clean(metrics.get("rmse")),
                "mae_naive": outputs.clean(metrics.get("mae_naive")),
                "total_error_pct": outputs.clean(metrics.get("total_error_pct")),
            }
        )
    churn = report.get("churn") or {}
    churn_rows = [
        {
            "method": str(method),
            "name": page.t(CHURN_METHODS.get(str(method), "models.method.other")),
            "chosen": method == churn.get("method"),
            "auc": outputs.clean((values or {}).get("auc")),
            "brier": outputs.clean((values or {}).get("brier")),
        }
        for method, values in (churn.get("metrics") or {}).items()
    ]
    rule = SELECTION_RULES.get(str((report.get("selection") or {}).get("rule")))
    baseline_rows = _baseline_rows(models, chosen, page)
    best = next((r for r in rows + baseline_rows if r["chosen"]), None)
    return {
        "chosen": chosen,
        "chosen_name": MODEL_NAMES.get(str(chosen), str(chosen)),
        "calibration_end": _date(report.get("calibration_end")),
        "observation_end": _date(report.get("observation_end")),
        "holdout_days": _days_between(report.get("calibration_end"), report.get("observation_end")),
        "rule_key": rule,
        "rows": rows,
        "baseline_rows": baseline_rows,
        "verdict": _verdict(models, chosen, page),
        "warnings": _warnings(models, page),
        "best": best,
        "improvement": _improvement(best),
        "churn": churn or None,
        "churn_method": page.t(CHURN_METHODS.get(str(churn.get("method")), "models.method.other")),
        "churn_reasons": churn_reason_keys(churn.get("reason")),
        "churn_rows": churn_rows,
        "tracking": _tracking_chart(models.get(chosen) if isinstance(models, dict) else None, page),
    }


def _baselines(models: Any) -> dict[str, dict[str, float]]:
    """The baselines' metrics (every model is compared on the same customers and holdout)."""
    for model in models.values() if isinstance(models, dict) else []:
        found = (model or {}).get("baselines") if isinstance(model, dict) else None
        if found:
            return {str(name): metrics for name, metrics in found.items()}
    return {}


def _baseline_rows(models: Any, chosen: Any, page: Page) -> list[dict[str, Any]]:
    """One row per baseline; a time-split baseline can be the chosen model."""
    return [
        {
            "model": name,
            "name": page.t(f"predict.baseline.{name}"),
            "chosen": name == chosen,
            "mae": outputs.clean(metrics.get("mae")),
            "rmse": outputs.clean(metrics.get("rmse")),
            "mae_naive": None,
            "total_error_pct": outputs.clean(metrics.get("total_error_pct")),
        }
        for name, metrics in _baselines(models).items()
        if f"predict.baseline.{name}" in PREDICT_MESSAGES
    ]


def _verdict(models: Any, chosen: Any, page: Page) -> dict[str, Any] | None:
    """Whether the chosen model beats the best *other* baseline, as a sentence key."""
    baselines = _baselines(models)
    model = models.get(chosen) if isinstance(models, dict) else None
    metrics = (model or {}).get("metrics") if isinstance(model, dict) else None
    metrics = metrics or baselines.get(str(chosen))
    if not metrics or metrics.get("mae") is None:
        return None
    # Imported here: the predict package imports scipy and scikit-learn, which the
    # server must not load at start-up for one page (issue 20).
    from recompra.predict.backtest import compare_with_baselines

    comparison = compare_with_baselines(str(chosen), metrics, baselines)
    if not comparison:
        return None
    key = "predict.verdict.wins" if comparison["beats_baselines"] else "predict.verdict.loses"
    return {
        "key": key,
        "wins": bool(comparison["beats_baselines"]),
        "params": {
            "mae": page.number(float(metrics["mae"]), 3),
            "best_mae": page.number(float(comparison["best_baseline_mae"]), 3),
            "baseline": page.t(f"predict.baseline.{comparison['best_baseline']}"),
        },
    }


def _warnings(models: Any, page: Page) -> list[dict[str, Any]]:
    """Every fit's degenerate-fit warnings, as sentence keys in the page's language."""
    found = []
    for name, model in models.items() if isinstance(models, dict) else []:
        warnings = model.get("warnings") if isinstance(model, dict) else None
        for warning in warnings or []:
            code = str(warning.get("code", ""))
            params = {"model": MODEL_NAMES.get(str(name), str(name))}
            if code.startswith("boundary_"):
                key = "predict.warning.boundary"
                params["parameter"] = code.removeprefix("boundary_")
            else:
                key = f"predict.warning.{code}"
            if key in PREDICT_MESSAGES:
                found.append({"code": code, "model": str(name), "key": key, "params": params})
    return found


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _improvement(best: dict[str, Any] | None) -> float | None:
    """How much smaller the chosen model's MAE is than the naive forecast's (a fraction)."""
    if best is None or best["mae"] is None or not best["mae_naive"]:
        return None
    return 1 - float(best["mae"]) / float(best["mae_naive"])


def _tracking_chart(model: Any, page: Page) -> dict[str, Any] | None:
    """Cumulative repeat purchases, actual vs expected, per week of the chosen model."""
    tracking = (model or {}).get("tracking") if isinstance(model, dict) else None
    if not tracking:
        return None
    weeks = [page.t("models.week", week=page.number(float(r["period"]))) for r in tracking]
    actual = [float(r["actual"]) for r in tracking]
    expected = [float(r["expected"]) for r in tracking]
    chart = charts.lines_chart(
        weeks,
        [(page.t("models.actual"), actual), (page.t("models.expected"), expected)],
        label=page.t("models.tracking"),
        fmt=lambda v: page.number(v, 0),
    )
    return {
        "chart": chart,
        "rows": [
            (week, page.number(a, 0), page.number(e, 0))
            for week, a, e in zip(weeks, actual, expected, strict=True)
        ],
    }


@router.get("/dashboard/models", response_class=HTMLResponse)
def models(request: Request) -> HTMLResponse:
    """Model back-tests from ``predictions/<slug>/`` (``recompra predict --backtest``)."""
    settings: Settings = request.app.state.settings
    with read_unit(request) as session:
        page = build_page(request, session, "models")
        found = outputs.backtests(session, settings.home, page.brand.id)
    if found is None:
        return render(page, "models.html", backtests=None)
    return render(page, "models.html", backtests=backtest_view(found.report, page))
