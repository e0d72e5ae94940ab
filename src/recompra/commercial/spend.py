"""Marketing spend in: a CSV (channel × month) or API rows, through one writer.

CSV columns: ``month`` (``YYYY-MM``), ``channel``, ``audience`` (``b2c`` or ``b2b``),
``amount`` (decimal, in the brand's currency) and optionally ``paid`` (``true``/``false``,
default true: organic channels cost effort but no media money). Bad rows become rejects
with line, column and reason; re-importing the same file changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from recompra.db import unit_of_work
from recompra.hub.importers.files import read_validated
from recompra.hub.parsing import ParseOptions
from recompra.hub.rejects import EntityCounts, ImportReport, Reject
from recompra.hub.upsert import upsert_rows
from recompra.hub.validate import LINE, Field, first_of_key
from recompra.models import MarketingSpend

AUDIENCES = ("b2c", "b2b")
FIELDS = [
    Field("month", required=True),
    Field("channel", required=True),
    Field("audience", required=True, choices=AUDIENCES),
    Field("amount", "money", required=True, minimum=0),
    Field("paid", choices=("true", "false")),
]
KEY = ("brand_id", "audience", "channel", "month")


def parse_month(text: str) -> date | None:
    """``YYYY-MM`` (or a ``YYYY-MM-01`` date) as the month's first day; None otherwise."""
    parsed = pd.to_datetime(str(text).strip()[:7], format="%Y-%m", errors="coerce")
    return None if pd.isna(parsed) else parsed.date()


def write_spend(
    session: Session, *, brand_id: int, rows: Sequence[dict[str, Any]], counts: EntityCounts
) -> None:
    """Upsert validated spend rows (month, channel, audience, amount_minor, paid, currency)."""
    records = [{"brand_id": brand_id, **row} for row in rows]
    upsert_rows(
        session,
        MarketingSpend.__table__,  # type: ignore[arg-type]
        records,
        key=KEY,
        compare=("amount_minor", "paid", "currency"),
        counts=counts,
    )


def import_spend_csv(
    engine: Engine, path: Path, *, brand_id: int, options: ParseOptions | None = None
) -> ImportReport:
    """Import a spend CSV into ``brand_id``; return the report (not yet written)."""
    options = options or ParseOptions()
    report = ImportReport()
    frame = read_validated(path, FIELDS, entity="spend", options=options, report=report)
    frame = frame.assign(month=frame["month"].map(parse_month))
    bad = frame["month"].isna()
    for line in frame.loc[bad, LINE]:
        report.reject(Reject("spend", path.name, int(line), "month", "", "month must be YYYY-MM"))
    report.entity("spend").rejected += int(bad.sum())
    frame = first_of_key(frame[~bad], ["audience", "channel", "month"], "spend", path.name, report)
    paid = frame["paid"] if "paid" in frame else pd.Series("true", index=frame.index)
    rows = [
        {
            "month": month,
            "channel": str(channel),
            "audience": str(audience),
            "amount_minor": int(amount),
            "paid": flag != "false",
            "currency": options.currency,
        }
        for month, channel, audience, amount, flag in zip(
            frame["month"],
            frame["channel"],
            frame["audience"],
            frame["amount"],
            paid.fillna("true"),
            strict=True,
        )
    ]
    with unit_of_work(engine) as session:
        write_spend(session, brand_id=brand_id, rows=rows, counts=report.entity("spend"))
    return report
