"""Reader for the CDNOW transaction sample used by the golden tests and benchmarks.

The file (Fader & Hardie's 1/10th sample of the CDNOW customer base, MIT licensed in the
lifetimes repository) has whitespace-separated columns: master id, sample id (1..2357),
date ``YYYYMMDD``, number of CDs and dollar value, without a header. Customers are
identified by the sample id. ``.gz`` files are read transparently.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa

from recompra.predict.rfm import Transactions
from recompra.snapshot.schema import ORDERS

#: End of the 39-week calibration period used in the papers.
CALIBRATION_END = "1997-09-30"
#: End of the 78-week observation window (holdout 1997-10-01 .. 1998-06-30).
OBSERVATION_END = "1998-06-30"


def load_cdnow(path: Path | str) -> Transactions:
    """Read the CDNOW sample into :class:`~recompra.predict.rfm.Transactions` (dollars)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        raw = np.loadtxt(handle, dtype=str)
    dates = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in raw[:, 2]], dtype="datetime64[D]")
    return Transactions(
        customer_id=raw[:, 1].astype(np.int64),
        purchased_at=dates.astype("datetime64[us]"),
        value=raw[:, 4].astype(np.float64),
    )


def cdnow_orders(transactions: Transactions) -> pa.Table:
    """CDNOW transactions as a snapshot ``orders`` table (dollars -> cents, noon UTC).

    Handy for exercising the scoring pipeline and the CLI on real data.
    """
    n = len(transactions)
    ts = pa.array(
        transactions.purchased_at.astype("datetime64[us]") + np.timedelta64(12, "h"),
        pa.timestamp("us"),
    ).cast(pa.timestamp("us", tz="UTC"))
    cents = np.round(transactions.value * 100).astype(np.int64)
    nulls = pa.nulls(n, pa.timestamp("us", tz="UTC"))
    zeros = pa.array(np.zeros(n, dtype=np.int64))
    return pa.table(
        {
            "order_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
            "brand_id": pa.array(np.ones(n, dtype=np.int64)),
            "customer_id": pa.array(transactions.customer_id),
            "status": pa.array(["delivered"] * n),
            "channel": pa.array(["web"] * n),
            "currency": pa.array(["USD"] * n),
            "purchased_at": ts,
            "approved_at": nulls,
            "delivered_at": nulls,
            "items_total_minor": pa.array(cents),
            "freight_total_minor": zeros,
            "discount_total_minor": zeros,
            "total_minor": pa.array(cents),
        },
        schema=ORDERS,
    )
