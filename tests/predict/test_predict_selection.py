"""Baselines in back-tests, time-split models, and a selection that never hides a loss."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from recompra.predict.backtest import backtest
from recompra.predict.cdnow import CALIBRATION_END, OBSERVATION_END, cdnow_orders
from recompra.predict.empirical import TIME_SPLIT_MODELS, BoostedRFMModel, RecencyModel
from recompra.predict.registry import MODELS
from recompra.predict.rfm import Transactions, summarize, to_day
from recompra.predict.scoring import ScoringConfig, choose_model, score_customers, score_metadata

START = np.datetime64("2022-01-01")
DAYS = 900


def _transactions(customers: list[int], days: list[int]) -> Transactions:
    stamps = (START + np.array(days).astype("timedelta64[D]")).astype("datetime64[us]")
    return Transactions(np.array(customers, dtype=np.int64), stamps, np.full(len(days), 100.0))


def _replenishment_store(n: int, seed: int) -> Transactions:
    """Customers who reorder at a regular personal interval until they stop.

    Far from the BTYD story (Poisson purchases): a silence of two intervals almost
    surely means the customer has gone, which a model learned from the history sees.
    """
    rng = np.random.default_rng(seed)
    customers: list[int] = []
    days: list[int] = []
    for c in range(n):
        birth = int(rng.integers(0, 540))
        interval = float(np.exp(rng.uniform(np.log(10), np.log(120))))
        lifetime = rng.exponential(np.exp(rng.uniform(np.log(60), np.log(900))))
        age = 0.0
        while age <= lifetime and birth + age <= DAYS:
            customers.append(c)
            days.append(birth + int(age))
            age += interval * rng.uniform(0.85, 1.15)
    return _transactions(customers, days)


@pytest.fixture(scope="module")
def replenishment() -> Transactions:
    return _replenishment_store(3000, seed=1)


def _as_of_day() -> int:
    return to_day(START + np.timedelta64(DAYS, "D"))


def test_backtest_shows_every_baseline_next_to_the_model(
    cdnow_transactions: Transactions,
) -> None:
    result = backtest(
        cdnow_transactions,
        calibration_end=CALIBRATION_END,
        observation_end=OBSERVATION_END,
        model="bgnbd",
    )
    assert set(result.baselines) == {"same_rate", *TIME_SPLIT_MODELS}
    for metrics in result.baselines.values():
        assert set(metrics) == {"mae", "rmse", "total_predicted", "total_error_pct"}
    assert result.baselines["same_rate"]["mae"] == result.metrics["mae_naive"]
    best = min(result.baselines, key=lambda k: result.baselines[k]["mae"])
    assert result.comparison["best_baseline"] == best
    assert result.comparison["mae_margin"] == pytest.approx(
        result.metrics["mae"] - result.baselines[best]["mae"]
    )
    row = result.by_frequency[0]
    for name in result.baselines:
        assert {f"{name}_mean", f"{name}_mae"} <= set(row)
    # the per-bucket MAEs weighted by bucket size give back the overall MAE
    sizes = np.array([r["customers"] for r in result.by_frequency])
    for key, overall in (("mae", result.metrics["mae"]), ("recency_mae", None)):
        values = np.array([r[key] for r in result.by_frequency])
        expected = overall if overall is not None else result.baselines["recency"]["mae"]
        assert float(values @ sizes / sizes.sum()) == pytest.approx(expected)
    assert result.warnings == []  # CDNOW's BG/NBD fit is not degenerate
    assert result.to_dict()["comparison"] == result.comparison


@pytest.mark.parametrize("cls", [RecencyModel, BoostedRFMModel])
def test_time_split_models_never_read_past_their_end_day(
    cls: type[RecencyModel], replenishment: Transactions
) -> None:
    end = _as_of_day() - 200
    later = replenishment.purchased_at.astype("datetime64[D]").astype(np.int64) > end
    # a flood of purchases after the end day must not change anything
    flooded = Transactions(
        np.concatenate([replenishment.customer_id, replenishment.customer_id[later]]),
        np.concatenate([replenishment.purchased_at, replenishment.purchased_at[later]]),
        np.concatenate([replenishment.value, replenishment.value[later] * 50]),
    )
    s = summarize(
        replenishment.customer_id,
        replenishment.purchased_at,
        replenishment.value,
        calibration_end=np.datetime64(end, "D"),
    )
    args = (90 / 7, s.frequency, s.recency, s.T)
    a = cls().fit_history(replenishment, end_day=end, time_unit_days=7, horizon_days=90)
    b = cls().fit_history(flooded, end_day=end, time_unit_days=7, horizon_days=90)
    np.testing.assert_array_equal(
        a.conditional_expected_purchases(*args), b.conditional_expected_purchases(*args)
    )
    assert a.params_ == {"window_days": 90.0, "training_customers": a.params_["training_customers"]}
    p_alive = a.p_alive(s.frequency, s.recency, s.T)
    assert np.all((p_alive > 0) & (p_alive < 1))
    # P(no order) over the training window is 1 - P(order again within it)
    np.testing.assert_allclose(a.p_no_purchase(90 / 7, s.frequency, s.recency, s.T), 1 - p_alive)


def test_time_split_models_refuse_a_history_too_short() -> None:
    tx = _transactions([1, 2, 3], [0, 10, 20])
    with pytest.raises(ValueError, match="history too short"):
        RecencyModel().fit_history(
            tx, end_day=to_day(START) + 40, time_unit_days=7, horizon_days=90
        )


def test_selection_says_when_every_btyd_model_loses(replenishment: Transactions) -> None:
    config = ScoringConfig(_as_of_day())
    summary = summarize(
        replenishment.customer_id,
        replenishment.purchased_at,
        replenishment.value,
        calibration_end=np.datetime64(config.as_of_day, "D"),
    )
    chosen, evidence = choose_model(replenishment, summary, config)
    backtests = evidence["backtests"]
    assert set(backtests) == {*MODELS, *TIME_SPLIT_MODELS}
    assert chosen == min(backtests, key=lambda k: backtests[k]["mae"])
    assert chosen in TIME_SPLIT_MODELS
    assert evidence["btyd_beats_baselines"] is False
    assert evidence["reason_en"].startswith("Every BTYD model loses to the baselines")
    assert evidence["reason_pt"].startswith("Todos os modelos BTYD perdem para as referências")
    losers = evidence["losers"]
    assert set(losers) == {*MODELS, *TIME_SPLIT_MODELS, "same_rate"} - {chosen}
    for name in MODELS:
        assert losers[name]["margin"] == pytest.approx(
            backtests[name]["mae"] - backtests[chosen]["mae"]
        )
        assert losers[name]["margin"] > 0
    assert evidence["split"]["observation_end"] == "2024-06-19"  # the as_of day


def test_the_served_fallback_scores_every_customer(replenishment: Transactions) -> None:
    orders = cdnow_orders(replenishment)
    as_of = datetime(2024, 6, 19, 23, 59, tzinfo=UTC)  # START + DAYS
    table = score_customers(orders, as_of, model="auto", churn="model")
    meta = score_metadata(table)
    assert meta["model"] in TIME_SPLIT_MODELS
    assert set(table.column("model").to_pylist()) == {meta["model"]}
    assert meta["log_likelihood"] is None
    assert meta["params"]["window_days"] == 365.0
    for column in ("p_alive", "churn_risk"):
        values = table.column(column).to_numpy()
        assert np.all((values >= 0) & (values <= 1))
    assert table.column("clv_minor").to_numpy().min() >= 0
    assert table.column("explanation_en").null_count == 0


def test_a_degenerate_fit_is_flagged_in_the_backtest_report() -> None:
    # customers who never leave: Poisson orders at gamma-distributed rates for 900 days
    rng = np.random.default_rng(4)
    customers: list[int] = []
    days: list[int] = []
    for c in range(3000):
        birth = int(rng.integers(0, 540))
        gaps = rng.exponential(1 / rng.gamma(0.8, 1 / 40), size=400)
        ages = np.concatenate([[0.0], np.cumsum(gaps)])
        ages = ages[birth + ages <= DAYS]
        customers.extend([c] * ages.size)
        days.extend((birth + ages).astype(int).tolist())
    result = backtest(
        _transactions(customers, days),
        calibration_end="2023-08-01",
        observation_end="2024-06-19",
        model="bgnbd",
    )
    codes = {w["code"] for w in result.warnings}
    assert "no_dropout" in codes
    assert result.to_dict()["warnings"] == result.warnings
