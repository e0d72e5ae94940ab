"""Segment flows: full re-evaluation runs (nightly, after an import or an analytics run)
and member exports (CSV and XLSX). No CLI concerns here: ``cli/segments.py`` calls these."""

from __future__ import annotations

import io
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, select

from recompra.db import unit_of_work
from recompra.db.commit_order import insertion_stamp, past, unseen_from
from recompra.models.base import utcnow
from recompra.models.segments import Segment, SegmentMembershipEvent, SegmentVersion
from recompra.segments.compiled import compiled_many
from recompra.segments.full import HubCopy
from recompra.segments.queries import MemberRow, iter_members
from recompra.segments.service import active_versions, evaluate_segments
from recompra.spreadsheets import (
    DATETIME,
    INTEGER,
    MONEY,
    TEXT,
    Cell,
    Column,
    money_units,
    write_csv,
    write_xlsx,
)

#: The member export's columns (stable names: integrations read them).
EXPORT_COLUMNS: tuple[Column, ...] = (
    ("customer_id", INTEGER),
    ("name", TEXT),
    ("email", TEXT),
    ("phone", TEXT),
    ("state", TEXT),
    ("city", TEXT),
    ("version", INTEGER),
    ("entered_at", DATETIME),
    ("orders", INTEGER),
    ("net_revenue", MONEY),
)
EXPORT_FORMATS = ("csv", "xlsx")
#: Segments evaluated by one DuckDB query (and written in one transaction) in the nightly
#: run: the per-customer aggregates are computed once per batch; a larger batch keeps the
#: write lock longer.
NIGHTLY_BATCH = 25


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
    """Fully re-evaluate every active segment of the brand in DuckDB, ``batch`` segments
    per query and per unit of work.

    The hub rows every active rule reads are copied once, at the start of the run
    (:class:`~recompra.segments.full.HubCopy`); each batch then costs one DuckDB query
    and the bulk writes of its entries and exits, in a short transaction of its own (a
    failure leaves the other batches evaluated). Writes that arrive while the run goes
    on are re-evaluated by their own unit of work (:mod:`recompra.segments.live`): a
    customer with a membership event in a segment newer than the copy keeps what that
    fresher evaluation decided there, so the run never reverts it with older data.
    """
    now = now or utcnow()
    with unit_of_work(engine, write=False) as session:
        active = session.execute(
            active_versions(
                brand_id, Segment.id, SegmentVersion.rule_hash, SegmentVersion.rule
            ).order_by(Segment.key)
        ).all()
        batches = [
            sorted(active[start : start + batch], key=lambda row: row.id)
            for start in range(0, len(active), batch)
        ]
        # Read before the copy: every event the copy may miss lies past it.
        watermark = unseen_from(
            session, SegmentMembershipEvent.id, SegmentMembershipEvent.brand_id == brand_id
        )
        copy = HubCopy(brand_id)
        copy.ensure(
            session.connection(),
            [
                compiled_many(
                    [row.rule_hash for row in rows],
                    lambda rows=rows: [row.rule for row in rows],  # type: ignore[misc]
                    subset=False,
                ).statement
                for rows in batches
            ],
        )
    runs: list[EvaluationRun] = []
    try:
        for rows in batches:
            started = time.perf_counter()
            with unit_of_work(engine) as session:
                # Locked (as evaluate_segments does) before the settled pairs are read: a
                # live evaluation holding a segment's row has committed its events by then.
                segments = list(
                    session.scalars(
                        select(Segment)
                        .where(Segment.id.in_([row.id for row in rows]), Segment.status == "active")
                        .order_by(Segment.id)
                        .with_for_update()
                    )
                )
                # Only this batch's segments: the run's own events of earlier batches are
                # newer than the copy too, and must not settle anything here. Past the
                # watermark in commit order, not by id: a lower id may commit late.
                stamp = insertion_stamp(session, SegmentMembershipEvent.xact_id)
                settled = [
                    (segment_id, customer_id)
                    for segment_id, customer_id in session.execute(
                        select(
                            SegmentMembershipEvent.segment_id, SegmentMembershipEvent.customer_id
                        )
                        .where(
                            past(SegmentMembershipEvent.id, stamp, watermark),
                            SegmentMembershipEvent.segment_id.in_([row.id for row in rows]),
                        )
                        .distinct()
                    )
                ]
                diffs = evaluate_segments(
                    session, segments=segments, now=now, copy=copy, settled=settled
                )
            seconds = (time.perf_counter() - started) / max(len(diffs), 1)
            runs.extend(
                EvaluationRun(key, d.members, len(d.entered), len(d.exited), seconds)
                for key, d in sorted(diffs.items())
            )
    finally:
        copy.close()
    return sorted(runs, key=lambda run: run.key)


def export_row(row: MemberRow) -> list[Cell]:
    """One member as export cells (money as a decimal amount in currency units)."""
    return [
        row.customer_id,
        row.name,
        row.email,
        row.phone,
        row.state,
        row.city,
        row.version,
        row.entered_at,
        row.orders,
        money_units(row.net_revenue_minor),
    ]


def write_members_csv(engine: Engine, *, brand_id: int, key: str, out: IO[str]) -> int:
    """Write the segment's members as CSV to ``out``; return how many were written."""
    with unit_of_work(engine, write=False) as session:
        rows = (export_row(r) for r in iter_members(session, brand_id=brand_id, key=key))
        return write_csv(out, EXPORT_COLUMNS, rows)


def write_members_xlsx(engine: Engine, *, brand_id: int, key: str, out: IO[bytes]) -> int:
    """Write the segment's members as an XLSX sheet to ``out``; return the member count."""
    with unit_of_work(engine, write=False) as session:
        rows = (export_row(r) for r in iter_members(session, brand_id=brand_id, key=key))
        return write_xlsx(out, key, EXPORT_COLUMNS, rows)


def export_members(engine: Engine, *, brand_id: int, key: str, path: Path) -> int:
    """Export the segment's members to ``path`` (``.csv`` or ``.xlsx``); return the count.

    The CSV is UTF-8 with a byte-order mark so that Excel shows accents right; the XLSX has
    money and date cells formatted (dates in the store's time zone).
    """
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in EXPORT_FORMATS:
        raise ValueError(f"unsupported export format {path.suffix!r}; use .csv or .xlsx")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == "xlsx":
        with path.open("wb") as binary:
            return write_members_xlsx(engine, brand_id=brand_id, key=key, out=binary)
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        return write_members_csv(engine, brand_id=brand_id, key=key, out=out)


def members_file(engine: Engine, *, brand_id: int, key: str, fmt: str) -> IO[bytes]:
    """The member export (``csv`` or ``xlsx``) in a rewound temporary file, for a download.

    A temporary file rather than memory, so a large segment never sits in RAM; the caller
    streams it and closes it (:func:`recompra.spreadsheets.file_chunks`).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unsupported export format {fmt!r}; use csv or xlsx")
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - returned open, closed by the caller
    try:
        if fmt == "xlsx":
            write_members_xlsx(engine, brand_id=brand_id, key=key, out=spool)
        else:
            text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
            write_members_csv(engine, brand_id=brand_id, key=key, out=text)
            text.flush()
            text.detach()
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool
