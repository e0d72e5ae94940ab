"""Spark batch scoring equals in-process scoring (kept to one small test: Spark is slow)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from recompra.predict.cdnow import cdnow_orders
from recompra.predict.rfm import Transactions
from recompra.predict.scoring import score_customers


@pytest.mark.spark
def test_spark_scores_equal_in_process_scores(
    spark: Any, cdnow_transactions: Transactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recompra.predict.spark import score_customers_spark

    # Python workers must run an interpreter that can import recompra; the shared
    # fixture starts Spark with the default ``python3`` (PYSPARK_PYTHON unset).
    monkeypatch.setattr(spark.sparkContext, "pythonExec", sys.executable)

    orders = cdnow_orders(cdnow_transactions)
    # a cancelled order must be ignored by both paths
    status = orders.column("status").to_pylist()
    status[0] = "canceled"
    orders = orders.set_column(orders.schema.get_field_index("status"), "status", [status])
    as_of = datetime(1997, 9, 30, 23, 0, tzinfo=UTC)
    local = score_customers(orders, as_of, model="bgnbd", churn="model").to_pandas()
    frame = spark.createDataFrame(orders.to_pandas())
    remote = (
        score_customers_spark(frame, as_of, model="bgnbd").toPandas().sort_values("customer_id")
    )
    local = local.sort_values("customer_id").reset_index(drop=True)
    remote = remote.reset_index(drop=True)
    assert list(remote.columns) == list(local.columns)
    assert len(remote) == len(local) == 2357
    for col in ("frequency", "recency", "T", "p_alive", "expected_purchases_365d", "churn_risk"):
        np.testing.assert_allclose(remote[col], local[col], rtol=1e-9, err_msg=col)
    assert (remote["clv_minor"] == local["clv_minor"]).all()
    assert (remote["explanation_en"] == local["explanation_en"]).all()
    assert (remote["explanation_pt"] == local["explanation_pt"]).all()
    remote_next = remote["expected_next_order_at"]
    if remote_next.dt.tz is None:  # Spark returns session-time-zone (UTC) naive values
        remote_next = remote_next.dt.tz_localize("UTC")
    gap = (remote_next - local["expected_next_order_at"]).abs()
    assert gap.max() <= np.timedelta64(1, "ms")
