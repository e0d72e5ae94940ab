"""Runs and timers: start a run (re-entry rules), schedule a node, end runs on an exit
condition (cancelling their pending timers at once) and wake runs waiting for an event.

Transactional: these functions never commit; the caller's unit of work does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from recompra.automation.service import definition_at
from recompra.db.dialect import in_values, insert_ignoring_conflicts
from recompra.models.automation import RUNS, TIMERS, Journey, JourneyRun, JourneyTimer


@dataclass(frozen=True)
class ActiveJourney:
    """A journey accepting entries, with the definition of its version in force."""

    id: int
    brand_id: int
    key: str
    version: int
    document: dict[str, Any]


def active_journeys(session: Session) -> list[ActiveJourney]:
    """Every active journey with its current definition."""
    rows = session.scalars(select(Journey).where(Journey.status == "active")).all()
    return [
        ActiveJourney(
            j.id,
            j.brand_id,
            j.key,
            j.current_version,
            definition_at(session, j.id, j.current_version),
        )
        for j in rows
    ]


class RunKey(Protocol):
    """What names a run's decisions: a run row, or a run a decision batch claimed."""

    @property
    def id(self) -> int: ...

    @property
    def journey_id(self) -> int: ...

    @property
    def version(self) -> int: ...

    @property
    def entry_key(self) -> str: ...

    @property
    def customer_id(self) -> int: ...


def execution_key(run: RunKey, node: str) -> str:
    """The unique key of deciding ``node`` in ``run``: version, entry key, node, customer."""
    return f"{run.journey_id}:{run.version}:{run.entry_key}:{node}:{run.customer_id}"


def entry_key_for(document: dict[str, Any], *, order_id: int | None, occurrence: str) -> str:
    """The run's entry key under the journey's keying and re-entry rules."""
    entry = document["entry"]
    if entry["reentry"] == "once_ever":
        return "once"
    if entry["reentry"] == "cooldown":
        return occurrence
    if entry["key"] == "order":
        return f"order:{order_id}" if order_id is not None else occurrence
    return "customer"


def start_run(
    session: Session,
    journey: ActiveJourney,
    *,
    customer_id: int,
    occurrence: str,
    now: datetime,
    order_id: int | None = None,
) -> int | None:
    """Start a run unless the re-entry rules refuse it; its start node is due now.

    Returns the run id, or ``None`` when the customer may not enter (again).
    """
    document = journey.document
    entry = document["entry"]
    if entry["reentry"] == "cooldown":
        since = now - timedelta(days=int(entry["cooldown_days"]))
        recent = session.scalar(
            select(JourneyRun.id)
            .where(
                JourneyRun.journey_id == journey.id,
                JourneyRun.customer_id == customer_id,
                JourneyRun.started_at > since,
            )
            .limit(1)
        )
        if recent is not None:
            return None
    row = _run_row(
        journey, customer_id=customer_id, occurrence=occurrence, order_id=order_id, now=now
    )
    run_id = session.scalar(
        insert_ignoring_conflicts(
            session, RUNS, index_elements=("journey_id", "customer_id", "entry_key"), returning="id"
        ),
        row,
    )
    if run_id is None:
        return None
    run = StartedRun(run_id, journey.id, journey.version, row["entry_key"], customer_id)
    schedule(session, run, document["start"], now)
    return int(run_id)


def _run_row(
    journey: ActiveJourney,
    *,
    customer_id: int,
    occurrence: str,
    order_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    document = journey.document
    keyed = document["entry"]["key"] == "order"
    return {
        "journey_id": journey.id,
        "version": journey.version,
        "customer_id": customer_id,
        "entry_key": entry_key_for(document, order_id=order_id, occurrence=occurrence),
        "node": document["start"],
        "state": "active",
        "holdout": False,
        "order_id": order_id if keyed else None,
        "started_at": now,
    }


@dataclass(frozen=True)
class StartedRun:
    """A run just started (what names its first timer)."""

    id: int
    journey_id: int
    version: int
    entry_key: str
    customer_id: int


class RunStarts:
    """Runs a trigger slice starts, written together: the runs in one statement, their
    first timers in another (per event they cost two round trips). A journey with a
    cooldown starts its run at once: its check reads the runs started before. Call
    :meth:`flush` before anything reads the runs (an exit condition, a wake-up)."""

    def __init__(self, session: Session, *, now: datetime) -> None:
        self.session = session
        self.now = now
        self.rows: list[dict[str, Any]] = []
        self.starts: dict[int, str] = {}

    def add(
        self,
        journey: ActiveJourney,
        *,
        customer_id: int,
        occurrence: str,
        order_id: int | None = None,
    ) -> None:
        """Start a run (unless the re-entry rules refuse it), now or at :meth:`flush`."""
        if journey.document["entry"]["reentry"] == "cooldown":
            start_run(
                self.session,
                journey,
                customer_id=customer_id,
                occurrence=occurrence,
                order_id=order_id,
                now=self.now,
            )
            return
        row = _run_row(
            journey, customer_id=customer_id, occurrence=occurrence, order_id=order_id, now=self.now
        )
        self.rows.append(row)
        self.starts[journey.id] = journey.document["start"]

    def flush(self) -> None:
        """Write the queued runs (one per journey, customer and entry key: a replayed
        trigger adds none) and the first timers of those that started."""
        if not self.rows:
            return
        insert = insert_ignoring_conflicts(
            self.session, RUNS, index_elements=("journey_id", "customer_id", "entry_key")
        ).returning(
            RUNS.c.id, RUNS.c.journey_id, RUNS.c.version, RUNS.c.entry_key, RUNS.c.customer_id
        )
        started = [StartedRun(*row) for row in self.session.execute(insert, self.rows)]
        insert_timers(
            self.session, [timer_row(run, self.starts[run.journey_id], self.now) for run in started]
        )
        self.rows = []


def timer_row(
    run: RunKey, node: str, due: datetime, *, reason: str | None = None
) -> dict[str, Any]:
    """The values of a pending timer for ``node`` of ``run``."""
    return {
        "run_id": run.id,
        "node": node,
        "execution_key": execution_key(run, node),
        "due_at": due,
        "state": "pending",
        "reason": reason,
        "created_at": due,
    }


def insert_timers(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write pending timers (once each: a timer's execution key is unique)."""
    if rows:
        session.execute(
            insert_ignoring_conflicts(session, TIMERS, index_elements=("execution_key",)), rows
        )


def schedule(
    session: Session, run: RunKey, node: str, due: datetime, *, reason: str | None = None
) -> None:
    """A pending timer for ``node`` of ``run`` (once: its execution key is unique)."""
    insert_timers(session, [timer_row(run, node, due, reason=reason)])


def end_runs(
    session: Session, run_ids: list[int], *, state: str, reason: str, now: datetime
) -> int:
    """Finish runs and cancel every pending timer of theirs (customers inside a wait too)."""
    if not run_ids:
        return 0
    session.execute(
        update(JourneyTimer)
        .where(JourneyTimer.run_id.in_(run_ids), JourneyTimer.state == "pending")
        .values(state="canceled", reason=reason, done_at=now)
        # Not "evaluate": it would test every object of a large batch's session.
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(JourneyRun)
        .where(JourneyRun.id.in_(run_ids), JourneyRun.state == "active")
        .values(state=state, exit_reason=reason, finished_at=now, waiting_for=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def exit_matching(
    session: Session,
    *,
    customer_id: int,
    reason: str,
    matches: Callable[[dict[str, Any]], bool],
    now: datetime,
    order_id: int | None = None,
) -> int:
    """End the customer's active runs whose version lists an exit condition ``matches``
    (with ``order_id``: only runs of that order and runs not keyed by an order)."""
    query = select(JourneyRun.id, JourneyRun.journey_id, JourneyRun.version).where(
        JourneyRun.customer_id == customer_id, JourneyRun.state == "active"
    )
    if order_id is not None:
        query = query.where((JourneyRun.order_id == order_id) | JourneyRun.order_id.is_(None))
    runs = session.execute(query).all()
    leaving = [
        run_id
        for run_id, journey_id, version in runs
        if any(matches(c) for c in definition_at(session, journey_id, version)["exit_when"])
    ]
    return end_runs(session, leaving, state="exited", reason=reason, now=now)


def customers_in_journeys(session: Session, customer_ids: list[int]) -> set[int]:
    """Those of ``customer_ids`` with an active run (one statement)."""
    if not customer_ids:
        return set()
    return set(
        session.scalars(
            select(JourneyRun.customer_id)
            .where(
                in_values(session, JourneyRun.customer_id, customer_ids),
                JourneyRun.state == "active",
            )
            .distinct()
        )
    )


def wake_waiting(session: Session, *, customer_id: int, event: str, now: datetime) -> int:
    """Runs waiting for ``event`` continue on their ``next`` branch now (timeout cancelled)."""
    waiting = session.scalars(
        select(JourneyRun).where(
            JourneyRun.customer_id == customer_id,
            JourneyRun.state == "active",
            JourneyRun.waiting_for == event,
        )
    ).all()
    for run in waiting:
        node = definition_at(session, run.journey_id, run.version)["nodes"][run.node]
        target = node["next"]
        timeout = session.scalar(
            select(JourneyTimer).where(
                JourneyTimer.run_id == run.id,
                JourneyTimer.node == node["timeout_next"],
                JourneyTimer.state == "pending",
            )
        )
        if timeout is not None and timeout.node == target:
            # Both branches lead to the same node: the timer is moved, not duplicated.
            timeout.due_at, timeout.reason = now, "event"
        else:
            if timeout is not None:
                timeout.state, timeout.done_at, timeout.reason = "canceled", now, "event"
            schedule(session, run, target, now, reason="event")
        run.waiting_for = None
    session.flush()
    return len(waiting)
