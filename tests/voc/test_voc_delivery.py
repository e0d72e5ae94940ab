"""The on-time rule: delivered on or before the estimated day, in the store's time zone."""

from __future__ import annotations

import pandas as pd

from recompra.voc.delivery import delivery_status


def _utc(values: list[str | None]) -> pd.Series:
    return pd.to_datetime(pd.Series(values), utc=True)


def test_on_time_late_not_delivered_and_no_estimate() -> None:
    delivered = _utc(
        [
            # 22:30 in São Paulo on the estimated day is already the next day in UTC.
            "2018-03-11 01:30:00+00:00",
            "2018-03-12 12:00:00+00:00",
            None,
            "2018-03-01 12:00:00+00:00",
            "2018-03-09 12:00:00+00:00",
        ]
    )
    # The estimate is a day: midnight in São Paulo (03:00 UTC).
    estimated = _utc(
        [
            "2018-03-10 03:00:00+00:00",
            "2018-03-10 03:00:00+00:00",
            "2018-03-10 03:00:00+00:00",
            None,
            "2018-03-10 03:00:00+00:00",
        ]
    )
    assert delivery_status(delivered, estimated).tolist() == [
        "on_time",
        "late",
        "not_delivered",
        "no_estimate",
        "on_time",
    ]


def test_a_day_whose_midnight_does_not_exist_is_still_a_day() -> None:
    # Brazil's daylight saving time began at 00:00 on 2017-10-15 (clocks jumped to 01:00).
    estimated = _utc(["2017-10-15 03:00:00+00:00"])
    assert delivery_status(_utc(["2017-10-16 01:00:00+00:00"]), estimated).tolist() == ["on_time"]
    assert delivery_status(_utc(["2017-10-16 04:00:00+00:00"]), estimated).tolist() == ["late"]
