"""Fixtures of the prediction tests: the vendored CDNOW sample and its calibration summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from recompra.predict.cdnow import CALIBRATION_END, OBSERVATION_END, load_cdnow
from recompra.predict.rfm import RFMSummary, Transactions, summarize

CDNOW = Path(__file__).resolve().parents[1] / "fixtures" / "cdnow" / "CDNOW_sample.txt.gz"


@pytest.fixture(scope="session")
def cdnow_transactions() -> Transactions:
    """The CDNOW 1/10th sample (2357 customers, 1997-01 .. 1998-06), values in dollars."""
    return load_cdnow(CDNOW)


@pytest.fixture(scope="session")
def cdnow_summary(cdnow_transactions: Transactions) -> RFMSummary:
    """39-week calibration summary (weeks) with the 39-week holdout counts."""
    t = cdnow_transactions
    return summarize(
        t.customer_id,
        t.purchased_at,
        t.value,
        calibration_end=CALIBRATION_END,
        observation_end=OBSERVATION_END,
        time_unit_days=7,
    )
