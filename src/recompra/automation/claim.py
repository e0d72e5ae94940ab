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

On PostgreSQL the claim's cost depends on the planner seeing that many timers are due:
it then walks the ``(state, due_at, id)`` index in order, joins each timer's run by its
key and stops at ``limit`` rows (about 2,000 buffer reads for 500 timers, whatever the
backlog). When it believes few are due, it joins *every* due timer (or every run) and
sorts them to keep 500: each claim then costs in proportion to the backlog and the
whole backlog in its square (at 100,000 due timers, 0.3-0.5 million buffer reads and
half a second a claim). Two estimates made it believe so, both from statistics:
``journeys``, a table of a few rows that autovacuum never analyses (it waits for 50
changed rows), so that ``status = 'active'`` kept a default selectivity of a fraction of
a percent; and ``journey_timers`` right after a burst of new timers, until autovacuum's
next pass. So the paused journeys are read first (usually none) and excluded by id, and
the journeys of the claimed runs are read after; and a claim first analyses
``journey_timers`` when it has changed by more than :data:`STALE_SHARE` of its rows
since its last analysis (:func:`refresh_statistics`: a look at two counters a batch, an
``ANALYZE`` of a sample every few thousand decisions). Only a user who may analyse the
table does (its owner, mostly): the same look says whether it may, and a refusal is
remembered for the process and logged once, since PostgreSQL would skip each attempt with
a warning and leave the statistics stale for the next claim to try again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, not_, select, text, update
from sqlalchemy.orm import Session

from recompra.db.dialect import in_values, is_postgresql
from recompra.models.automation import RUNS, TIMERS, Journey

log = logging.getLogger(__name__)

#: What a decision may change on a run, and on a timer.
RUN_FIELDS = ("node", "state", "holdout", "waiting_for", "exit_reason", "finished_at")
TIMER_FIELDS = ("state", "done_at", "due_at", "reason")

#: ``journey_timers`` is analysed before a claim once this share of its rows (and at
#: least :data:`STALE_ROWS` rows) changed since its last analysis (see
#: :func:`refresh_statistics`).
STALE_SHARE = 0.05
STALE_ROWS = 1000


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
    if is_postgresql(session):
        refresh_statistics(session)
    # The paused journeys are read apart, not joined: see the module's docstring.
    paused = list(session.scalars(select(Journey.id).where(Journey.status != "active")))
    query = (
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
        )
        .join(RUNS, RUNS.c.id == TIMERS.c.run_id)
        .where(TIMERS.c.state == "pending", TIMERS.c.due_at <= now)
        .order_by(TIMERS.c.due_at, TIMERS.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=TIMERS)
    )
    if paused:
        query = query.where(not_(in_values(session, RUNS.c.journey_id, paused)))
    rows = session.execute(query).all()
    journeys: dict[int, tuple[int, str]] = {
        journey_id: (brand_id, key)
        for journey_id, brand_id, key in session.execute(
            select(Journey.id, Journey.brand_id, Journey.key).where(
                in_values(session, Journey.id, {row.journey_id for row in rows})
            )
        )
    }
    timers: list[DueTimer] = []
    runs: dict[int, ClaimedRun] = {}
    for row in rows:
        timer = DueTimer(
            row.id, row.run_id, row.node, row.due_at, row.state, row.done_at, row.reason
        )
        timer.loaded = {name: getattr(timer, name) for name in TIMER_FIELDS}
        timers.append(timer)
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


#: The databases (rendered URLs, with their users) whose user may not analyse
#: ``journey_timers``: see :func:`refresh_statistics`.
_MAY_NOT_ANALYZE: set[str] = set()


def refresh_statistics(session: Session) -> None:
    """Analyse ``journey_timers`` (PostgreSQL) when it changed by more than
    :data:`STALE_SHARE` of its rows (at least :data:`STALE_ROWS`) since it was last
    analysed: see the module's docstring.

    Only a user who may analyse it does: its owner (or a member of the owning role), the
    database's owner, a superuser, or (PostgreSQL 17) a holder of ``MAINTAIN``. Anyone
    else's ``ANALYZE`` is skipped with a warning and the statistics stay stale, so every
    claim would try (and warn) again: the same statement that reads the counters says
    whether the user may, and a refusal is remembered for the process and logged once."""
    bind = session.get_bind()
    key = bind.engine.url.render_as_string(hide_password=True)
    if key in _MAY_NOT_ANALYZE:
        return
    maintain = ""
    if (bind.dialect.server_version_info or (0,)) >= (17,):
        maintain = " OR has_table_privilege(c.oid, 'MAINTAIN')"
    stale, allowed = session.execute(
        text(
            "SELECT pg_stat_get_mod_since_analyze(c.oid) > "
            "greatest(c.reltuples, 0) * :share + :rows, "
            f"pg_has_role(c.relowner, 'USAGE') OR pg_has_role(d.datdba, 'USAGE'){maintain} "
            "FROM pg_class c, pg_database d "
            "WHERE c.oid = CAST(:table AS regclass) AND d.datname = current_database()"
        ),
        {"share": STALE_SHARE, "rows": STALE_ROWS, "table": TIMERS.name},
    ).one()
    if not allowed:
        _MAY_NOT_ANALYZE.add(key)
        log.warning(
            "the database user may not ANALYZE %s (not its owner): the due-timer claim "
            "relies on autovacuum's statistics, which may lag behind a burst of timers",
            TIMERS.name,
        )
        return
    if stale:
        # SKIP_LOCKED: another worker (or autovacuum) analysing it already is enough.
        session.execute(text(f"ANALYZE (SKIP_LOCKED) {TIMERS.name}"))


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
