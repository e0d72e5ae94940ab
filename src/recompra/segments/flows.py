"""Segment flows: full re-evaluation runs (nightly, after an import or an analytics run)
and member exports. No CLI concerns here: ``cli/segments.py`` calls these."""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, select

from recompra.db import unit_of_work
from recompra.models.base import utcnow
from recompra.models.segments import Segment
from recompra.segments.queries import MemberRow, iter_members
from recompra.segments.service import evaluate_segments

EXPORT_COLUMNS = (
    "customer_id",
    "name",
    "email",
    "phone",
    "state",
    "city",
    "version",
    "entered_at",
    "orders",
    "net_revenue",
)
EXPORT_FORMATS = ("csv",)
#: Segments evaluated by one query in the nightly run.
NIGHTLY_BATCH = 16


@dataclass(frozen=True)
class EvaluationRun:
    """One segment's full evaluation in a run (``seconds``: its share of its batch)."""

    key: str
    members: int
    entered: int
    exited: int
    seconds: float


def evaluate_all(
    engine: Engine, *, brand_id: int, now: datetime | None = None, batch: int = NIGHTLY_BATCH
) -> list[EvaluationRun]:
    """Fully re-evaluate every active segment of the brand, ``batch`` segments per query
    and per unit of work.

    Batches read the orders once for several segments; one transaction per batch keeps
    the write lock short and lets a failure leave the other batches evaluated.
    """
    now = now or utcnow()
    with unit_of_work(engine, write=False) as session:
        ids = list(
            session.scalars(
                select(Segment.id)
                .where(Segment.brand_id == brand_id, Segment.status == "active")
                .order_by(Segment.key)
            )
        )
    runs: list[EvaluationRun] = []
    for start in range(0, len(ids), batch):
        started = time.perf_counter()
        with unit_of_work(engine) as session:
            segments = list(
                session.scalars(
                    select(Segment).where(
                        Segment.id.in_(ids[start : start + batch]), Segment.status == "active"
                    )
                )
            )
            diffs = evaluate_segments(session, segments=segments, now=now)
        seconds = (time.perf_counter() - started) / max(len(diffs), 1)
        runs.extend(
            EvaluationRun(key, d.members, len(d.entered), len(d.exited), seconds)
            for key, d in sorted(diffs.items())
        )
    return runs


def export_row(row: MemberRow) -> list[str]:
    """One member as export cells (money in currency units with two decimals)."""
    return [
        str(row.customer_id),
        row.name or "",
        row.email or "",
        row.phone or "",
        row.state or "",
        row.city or "",
        str(row.version or ""),
        row.entered_at.isoformat() if row.entered_at else "",
        str(row.orders),
        f"{row.net_revenue_minor / 100:.2f}",
    ]


def write_members_csv(engine: Engine, *, brand_id: int, key: str, out: IO[str]) -> int:
    """Write the segment's members as CSV to ``out``; return how many were written."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    written = 0
    with unit_of_work(engine, write=False) as session:
        for row in iter_members(session, brand_id=brand_id, key=key):
            writer.writerow(export_row(row))
            written += 1
    return written


def export_members(engine: Engine, *, brand_id: int, key: str, path: Path) -> int:
    """Export the segment's members to ``path`` (``.csv``); return the member count.

    XLSX is not offered: openpyxl is not a dependency of Recompra; every spreadsheet
    opens the CSV (UTF-8 with BOM so that Excel shows accents right).
    """
    if path.suffix.lower() != ".csv":
        raise ValueError(f"unsupported export format {path.suffix!r}; use .csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        return write_members_csv(engine, brand_id=brand_id, key=key, out=out)
