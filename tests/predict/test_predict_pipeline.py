"""Back-tests and the score_customers pipeline on CDNOW."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from recompra.predict.backtest import backtest
from recompra.predict.cdnow import CALIBRATION_END, OBSERVATION_END, cdnow_orders
from recompra.predict.rfm import Transactions
from recompra.predict.scoring import score_customers, score_metadata


def test_backtest_tables_on_cdnow(cdnow_transactions: Transactions) -> None:
    result = backtest(
        cdnow_transactions,
        calibration_end=CALIBRATION_END,
        observation_end=OBSERVATION_END,
        model="bgnbd",
    )
    assert result.n_customers == 2357
    week39 = result.tracking[38]
    # FHL 2005: 2457 repeat transactions in the 39-week calibration period
    assert week39["actual"] == 2457
    assert week39["holdout"] == 0.0
    assert result.tracking[39]["holdout"] == 1.0
    assert len(result.tracking) == 78
    # the fitted model tracks the calibration total closely
    assert week39["expected"] == pytest.approx(2457, rel=0.02)
    cum_actual = [row["actual"] for row in result.tracking]
    assert cum_actual == sorted(cum_actual)
    assert sum(row["customers"] for row in result.by_frequency) == 2357
    metrics = result.metrics
    assert metrics["total_actual"] == result.tracking[-1]["actual"] - 2457
    assert metrics["mae"] < metrics["mae_naive"]  # beats "same rate as before"
    assert result.tracking_svg().startswith("<svg")


def test_score_customers_on_cdnow_orders(cdnow_transactions: Transactions) -> None:
    orders = cdnow_orders(cdnow_transactions)
    # customer 1's orders cancelled, one extra order after as_of: both must be ignored
    status = np.array(orders.column("status").to_pylist(), dtype=object)
    customer = orders.column("customer_id").to_numpy()
    status[customer == 1] = "canceled"
    orders = orders.set_column(orders.schema.get_field_index("status"), "status", [list(status)])
    as_of = datetime(1997, 9, 30, 23, 59, tzinfo=UTC)
    table = score_customers(orders, as_of, model="bgnbd", churn="model")
    assert table.num_rows == 2356
    ids = table.column("customer_id").to_pylist()
    assert 1 not in ids
    for col in ("p_alive", "churn_risk"):
        values = table.column(col).to_numpy()
        assert np.all((values >= 0) & (values <= 1))
    assert table.schema.field("clv_minor").type == pa.int64()
    assert table.column("clv_minor").to_numpy().min() >= 0
    next_at = table.column("expected_next_order_at").cast(pa.int64()).to_numpy()
    assert next_at.min() > int(as_of.timestamp() * 1e6)
    meta = score_metadata(table)
    assert meta["model"] == "bgnbd"
    assert meta["params"]["r"] > 0
    assert meta["churn"]["method"] == "model"
    row = table.filter(pa.compute.equal(table.column("customer_id"), 2)).to_pylist()[0]
    assert row["explanation_en"].startswith("P(alive) is")
    assert row["explanation_pt"].startswith("P(ativo) é")


def test_score_customers_auto_records_its_choice(cdnow_transactions: Transactions) -> None:
    orders = cdnow_orders(cdnow_transactions)
    table = score_customers(orders, datetime(1998, 6, 30, tzinfo=UTC), model="auto")
    meta = score_metadata(table)
    assert meta["model_selection"]["rule"] == "lowest holdout MAE"
    backtests = meta["model_selection"]["backtests"]
    best = min(backtests, key=lambda k: backtests[k]["mae"])
    assert meta["model"] == best
    assert set(table.column("model").to_pylist()) == {best}
    # CDNOW is where the BTYD models were developed: one of them must beat the baselines,
    # and the reason says by how much
    selection = meta["model_selection"]
    assert best in {"bgnbd", "pareto", "mbgnbd"}
    assert selection["btyd_beats_baselines"] is True
    assert "beats the best baseline" in selection["reason_en"]
    assert "supera a melhor referência" in selection["reason_pt"]
    assert all(loser["margin"] >= 0 for loser in selection["losers"].values())
    assert meta["churn"]["method"] in {"model", "classifier"}
    assert set(meta["churn"]["metrics"]) == {"model", "classifier"}
