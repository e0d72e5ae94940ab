"""Claiming a decision batch's due timers, and writing back what its decisions changed.

A batch read its timers, runs and journeys as ORM objects (three statements) and wrote
them back through the unit of work: an ``UPDATE`` per changed run and timer, plus the
ORM's bookkeeping on every object, which was most of a "wait" decision's cost and a
third of a "send now" one on PostgreSQL. Here a batch claims its timers with their runs
and journeys in one statement (PostgreSQL: ``FOR UPDATE OF journey_timers SKIP LOCKED``,
so several workers share the work), decides on plain objects, and writes each distinct
set of changes as one ``UPDATE ... WHERE id IN (...)``: 500 "send now" decisions that
all end their runs write them in one statement. As the ORM did, only the columns a
decision changed are written, so a run that an exit condition ended meanwhile keeps its
state when the decision only moved its node.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from recompra.db.dialect import in_values
from recompra.models.automation import RUNS, TIMERS, Journey

#: What a decision may change on a run, and on a timer.
RUN_FIELDS = ("node", "state", "holdout", "waiting_for", "exit_reason", "finished_at")
TIMER_FIELDS = ("state", "done_at", "due_at", "reason")


@dataclass
class DueTimer:
    """A claimed timer: the node of a run due at ``due_at``."""

    id: int
    run_id: int
    node: str
    due_at: datetime
    state: str
    done_at: datetime | None
    reason: str | None
    loaded: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClaimedRun:
    """A claimed timer's run (see :func:`recompra.automation.runs.execution_key`)."""

    id: int
    journey_id: int
    version: int
    customer_id: int
    entry_key: str
    order_id: int | None
    node: str
    state: str
    holdout: bool
    waiting_for: str | None
    exit_reason: str | None
    finished_at: datetime | None
    loaded: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Claimed:
    """A batch: its due timers in order, their runs by id, and each run's journey
    (brand and key) by journey id."""

    timers: list[DueTimer]
    runs: dict[int, ClaimedRun]
    journeys: dict[int, tuple[int, str]]


def claim_due(session: Session, *, now: datetime, limit: int) -> Claimed:
    """Lock and read up to ``limit`` due timers of active journeys, earliest first."""
    rows = session.execute(
        select(
            TIMERS.c.id,
            TIMERS.c.run_id,
            TIMERS.c.node,
            TIMERS.c.due_at,
            TIMERS.c.state,
            TIMERS.c.done_at,
            TIMERS.c.reason,
            RUNS.c.journey_id,
            RUNS.c.version,
            RUNS.c.customer_id,
            RUNS.c.entry_key,
            RUNS.c.order_id,
            *(RUNS.c[name].label(f"run_{name}") for name in RUN_FIELDS),
            Journey.brand_id,
            Journey.key,
        )
        .join(RUNS, RUNS.c.id == TIMERS.c.run_id)
        .join(Journey, Journey.id == RUNS.c.journey_id)
        .where(TIMERS.c.state == "pending", TIMERS.c.due_at <= now, Journey.status == "active")
        .order_by(TIMERS.c.due_at, TIMERS.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=TIMERS)
    ).all()
    timers: list[DueTimer] = []
    runs: dict[int, ClaimedRun] = {}
    journeys: dict[int, tuple[int, str]] = {}
    for row in rows:
        timer = DueTimer(
            row.id, row.run_id, row.node, row.due_at, row.state, row.done_at, row.reason
        )
        timer.loaded = {name: getattr(timer, name) for name in TIMER_FIELDS}
        timers.append(timer)
        journeys[row.journey_id] = (row.brand_id, row.key)
        if row.run_id in runs:  # two due timers of one run share it, as they did in the ORM
            continue
        values = {name: getattr(row, f"run_{name}") for name in RUN_FIELDS}
        run = ClaimedRun(
            row.run_id,
            row.journey_id,
            row.version,
            row.customer_id,
            row.entry_key,
            row.order_id,
            **values,
        )
        run.loaded = values
        runs[run.id] = run
    return Claimed(timers, runs, journeys)


def write_back(session: Session, claimed: Claimed) -> None:
    """Write what the decisions changed on the batch's runs and timers."""
    _write_changes(session, RUNS, RUN_FIELDS, list(claimed.runs.values()))
    _write_changes(session, TIMERS, TIMER_FIELDS, claimed.timers)


def _write_changes(
    session: Session, table: Table, fields: tuple[str, ...], rows: list[Any]
) -> None:
    groups: dict[tuple[tuple[str, Any], ...], list[int]] = defaultdict(list)
    for row in rows:
        changes = tuple(
            (name, getattr(row, name)) for name in fields if getattr(row, name) != row.loaded[name]
        )
        if changes:
            groups[changes].append(row.id)
    for changes, ids in groups.items():
        session.execute(
            update(table).where(in_values(session, table.c.id, ids)).values(dict(changes))
        )
