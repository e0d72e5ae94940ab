"""Batch scoring on Spark, with results equal to :func:`~recompra.predict.scoring.score_customers`.

The work is split the way it scales:

1. Spark computes each customer's calibration summary with SQL aggregates (same-day
   orders collapsed, the same arithmetic as :func:`recompra.predict.rfm.summarize`);
2. the *compressed* data — distinct ``(frequency, recency, T)`` rows with their counts,
   and distinct ``(frequency, spend)`` rows for Gamma-Gamma — is collected to the
   driver, which fits the models exactly as in-process fitting does (in-process fits
   compress the same way, so the optimiser sees identical inputs);
3. every partition is scored with ``mapInPandas`` by the same numpy function
   (:func:`recompra.predict.scoring.score_rows`) used in-process.

The churn score on Spark is the model's (``churn="model"``): the classifier comparison
needs in-process back-tests over several cut-offs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from recompra.predict.registry import make_model
from recompra.predict.rfm import to_day
from recompra.predict.scoring import ScoringConfig, fit_spend_model, score_rows, utc
from recompra.snapshot.schema import NON_PURCHASE_STATUSES

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame


def summary_frame(orders: DataFrame, as_of: datetime, time_unit_days: float) -> DataFrame:
    """Per-customer ``frequency, recency, T, monetary_value`` computed by Spark."""
    from pyspark.sql import functions as F

    as_of_day = to_day(as_of)
    unit = float(time_unit_days)
    purchases = orders.where(
        (~F.col("status").isin(list(NON_PURCHASE_STATUSES)) | F.col("status").isNull())
        & F.col("purchased_at").isNotNull()
        & F.col("customer_id").isNotNull()
        & (F.col("purchased_at") <= F.lit(utc(as_of)))
    )
    daily = purchases.groupBy(
        "customer_id", F.unix_date(F.to_date("purchased_at")).alias("day")
    ).agg(F.sum(F.coalesce(F.col("total_minor"), F.lit(0)).cast("double")).alias("value"))
    per = daily.groupBy("customer_id").agg(
        F.min("day").alias("first_day"),
        F.max("day").alias("last_day"),
        F.count(F.lit(1)).alias("n"),
        F.sum("value").alias("total"),
        F.min_by("value", "day").alias("first_value"),
    )
    freq = (F.col("n") - 1).cast("double")
    return per.select(
        F.col("customer_id").cast("long").alias("customer_id"),
        freq.alias("frequency"),
        ((F.col("last_day") - F.col("first_day")).cast("double") / F.lit(unit)).alias("recency"),
        ((F.lit(as_of_day) - F.col("first_day")).cast("double") / F.lit(unit)).alias("T"),
        F.when(
            freq > 0,
            (F.col("total") - F.col("first_value")) / F.greatest(freq, F.lit(1.0)),
        )
        .otherwise(F.lit(0.0))
        .alias("monetary_value"),
    )


def score_customers_spark(
    orders: DataFrame,
    as_of: datetime,
    *,
    model: str = "bgnbd",
    time_unit_days: float = 7,
    horizon_days: int = 365,
    monthly_discount_rate: float = 0.01,
    margin: float = 1.0,
    churn_window_days: int = 90,
) -> DataFrame:
    """Score every customer on Spark; same columns as ``score_customers`` (churn="model").

    Parameters
    ----------
    orders : pyspark.sql.DataFrame
        Snapshot orders (``recompra.snapshot.schema.ORDERS`` columns).
    as_of : datetime
        Scoring instant.
    model : {"bgnbd", "pareto", "mbgnbd"}
        Transaction model ("auto" needs the in-process back-tests and is not offered).
    time_unit_days, horizon_days, monthly_discount_rate, margin, churn_window_days
        As in :func:`recompra.predict.scoring.score_customers`.

    Returns
    -------
    pyspark.sql.DataFrame
    """
    from pyspark.sql import functions as F

    config = ScoringConfig(
        to_day(as_of),
        float(time_unit_days),
        horizon_days,
        monthly_discount_rate,
        margin,
        churn_window_days,
    )
    summary = summary_frame(orders, as_of, config.time_unit_days).cache()
    rows = summary.groupBy("frequency", "recency", "T").count().toPandas()
    fitted = make_model(model).fit(
        rows["frequency"].to_numpy(),
        rows["recency"].to_numpy(),
        rows["T"].to_numpy(),
        weights=rows["count"].to_numpy(),
    )
    spend_rows = (
        summary.where((F.col("frequency") > 0) & (F.col("monetary_value") > 0))
        .groupBy("frequency", "monetary_value")
        .count()
        .toPandas()
    )
    spend_model = fit_spend_model(
        spend_rows["frequency"].to_numpy(dtype=np.float64),
        spend_rows["monetary_value"].to_numpy(dtype=np.float64),
        weights=spend_rows["count"].to_numpy(dtype=np.float64),
    )
    fallback = (
        orders.where(~F.col("status").isin(list(NON_PURCHASE_STATUSES)))
        .agg(F.avg("total_minor"))
        .collect()[0][0]
    )
    fallback_spend = float(fallback or 0.0)
    expected_col = config.expected_column
    schema = (
        "customer_id long, frequency double, recency double, T double, p_alive double, "
        f"{expected_col} double, expected_next_order_at timestamp, clv_minor long, "
        "churn_risk double, explanation_pt string, explanation_en string, model string"
    )
    name = fitted.model_name

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        for pdf in batches:
            x = pdf["frequency"].to_numpy(dtype=np.float64)
            r = pdf["recency"].to_numpy(dtype=np.float64)
            t = pdf["T"].to_numpy(dtype=np.float64)
            m = pdf["monetary_value"].to_numpy(dtype=np.float64)
            if x.size == 0:
                continue
            cols: dict[str, Any] = score_rows(
                fitted, spend_model, fallback_spend, x, r, t, m, config
            )
            out = pd.DataFrame(
                {
                    "customer_id": pdf["customer_id"].to_numpy(dtype=np.int64),
                    "frequency": x,
                    "recency": r,
                    "T": t,
                    "p_alive": cols["p_alive"],
                    expected_col: cols[expected_col],
                    "expected_next_order_at": pd.to_datetime(
                        cols["expected_next_order_at"], unit="us", utc=True
                    ),
                    "clv_minor": cols["clv_minor"],
                    "churn_risk": cols["churn_risk"],
                    "explanation_pt": cols["explanation_pt"],
                    "explanation_en": cols["explanation_en"],
                    "model": name,
                }
            )
            yield out

    return summary.mapInPandas(score, schema=schema)
