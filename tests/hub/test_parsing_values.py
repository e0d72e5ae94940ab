"""The field parsers' values, reasons and missing marks, checked against values written
out by hand (the API's and the importers' one definition of a timestamp and of text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd

from recompra.hub.ingest.batch import parse_options
from recompra.hub.parsing import NO_SUCH_DATE, ParseOptions, parse_text, parse_timestamp


def test_api_timestamps_in_each_accepted_form_and_the_rejected_ones() -> None:
    raw = pd.Series(
        [
            "2026-12-06T10:00:00",  # naive: UTC for the API
            " 2026-12-06 10:00:01 ",
            "2026-12-06",
            "2026-12-06T10:00:00.123456+02:00",
            "2026-12-06T10:00:00Z",
            "",
            "   ",
            "2026-02-31",
            "yesterday",
        ],
        dtype=object,
    )
    parsed = parse_timestamp(raw, parse_options("BRL"))
    assert list(parsed.values[:5]) == [
        datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC),
        datetime(2026, 12, 6, 10, 0, 1, tzinfo=UTC),
        datetime(2026, 12, 6, tzinfo=UTC),
        datetime(2026, 12, 6, 8, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC),
    ]
    assert all(v.utcoffset() == timedelta(0) for v in parsed.values[:5])
    assert list(parsed.values[5:]) == [None] * 4
    assert list(parsed.missing) == [False] * 5 + [True, True] + [False, False]
    assert list(parsed.bad) == [False] * 7 + [True, True]
    assert parsed.row_reasons == {7: NO_SUCH_DATE}


def test_naive_file_timestamps_are_local_time_of_the_mapping() -> None:
    # São Paulo has kept UTC-3 all year since 2019.
    options = ParseOptions(timezone="America/Sao_Paulo")
    raw = pd.Series(["2026-01-10 10:00:00", "2026-07-10", "2026-01-10 10:00:00-05:00"])
    parsed = parse_timestamp(raw, options)
    minus_three = timezone(timedelta(hours=-3))
    assert list(parsed.values) == [
        datetime(2026, 1, 10, 10, tzinfo=minus_three),
        datetime(2026, 7, 10, tzinfo=minus_three),
        datetime(2026, 1, 10, 15, tzinfo=UTC),
    ]
    assert not parsed.bad.any()


def test_text_is_trimmed_and_empty_or_absent_is_missing() -> None:
    raw = pd.Series(["  a b  ", "", " \t", None, np.nan, 12], dtype=object)
    parsed = parse_text(raw, ParseOptions())
    assert list(parsed.values) == ["a b", None, None, None, None, "12"]
    assert list(parsed.missing) == [False, True, True, True, True, False]
    assert not parsed.bad.any()
