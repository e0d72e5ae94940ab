"""Runs and timers: start a run (re-entry rules), schedule a node, end runs on an exit
condition (cancelling their pending timers at once) and wake runs waiting for an event.

Transactional: these functions never commit; the caller's unit of work does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from recompra.automation.bulk import insert_rows, insert_rows_returning
from recompra.automation.service import definition_at
from recompra.models.automation import (
    RUNS,
    TIMERS,
    Journey,
    JourneyRun,
    JourneyTimer,
    JourneyVersion,
)


@dataclass(frozen=True)
class ActiveJourney:
    """A journey accepting entries, with the definition of its version in force."""

    id: int
    brand_id: int
    key: str
    version: int
    document: dict[str, Any]


def active_journeys(session: Session) -> list[ActiveJourney]:
    """Every active journey with its current definition (one statement: the worker reads
    them on every pass, and a statement per journey was a third of an idle pass's)."""
    rows = session.execute(
        select(
            Journey.id,
            Journey.brand_id,
            Journey.key,
            Journey.current_version,
            JourneyVersion.definition,
        )
        .join(
            JourneyVersion,
            (JourneyVersion.journey_id == Journey.id)
            & (JourneyVersion.version == Journey.current_version),
        )
        .where(Journey.status == "active")
        .order_by(Journey.id)
    ).all()
    return [
        ActiveJourney(journey_id, brand_id, key, version, dict(document))
        for journey_id, brand_id, key, version, document in rows
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


@dataclass(frozen=True)
class Entrant:
    """A customer entering a journey at ``now`` (see :func:`start_runs`)."""

    customer_id: int
    occurrence: str
    now: datetime
    order_id: int | None = None


#: Customers per ``IN`` list of the cooldown read (under SQLite's bound-parameter limit).
_CHUNK = 5_000


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
    (run_id,) = start_runs(session, journey, [Entrant(customer_id, occurrence, now, order_id)])
    return run_id


def _last_started(
    session: Session, journey: ActiveJourney, customers: list[int]
) -> dict[int, datetime]:
    """Each customer's latest run start in ``journey`` (absent: never entered)."""
    latest: dict[int, datetime] = {}
    for first in range(0, len(customers), _CHUNK):
        rows = session.execute(
            select(JourneyRun.customer_id, func.max(JourneyRun.started_at))
            .where(
                JourneyRun.journey_id == journey.id,
                JourneyRun.customer_id.in_(customers[first : first + _CHUNK]),
            )
            .group_by(JourneyRun.customer_id)
        )
        latest.update({customer: started for customer, started in rows})
    return latest


@dataclass(frozen=True)
class StartedRun:
    """A run just started (what names its first timer)."""

    id: int
    journey_id: int
    version: int
    entry_key: str
    customer_id: int


def start_runs(
    session: Session, journey: ActiveJourney, entrants: Sequence[Entrant]
) -> list[int | None]:
    """Start a run for each entrant the re-entry rules admit, in order (a later entrant
    is judged with the earlier ones already in), each with its start node due at its
    ``now``: one read of the cooldowns, one insert of the runs and one of their timers
    whatever the number of entrants (a trigger slice, a batch entry, the demo's history).

    Returns each entrant's run id, ``None`` where the customer may not enter (again).
    """
    document = journey.document
    entry = document["entry"]
    cooldown = (
        timedelta(days=int(entry["cooldown_days"])) if entry["reentry"] == "cooldown" else None
    )
    latest = (
        _last_started(session, journey, sorted({e.customer_id for e in entrants}))
        if cooldown is not None
        else {}
    )
    admitted: dict[tuple[int, str], int] = {}
    rows: list[dict[str, Any]] = []
    for index, entrant in enumerate(entrants):
        key = entry_key_for(document, order_id=entrant.order_id, occurrence=entrant.occurrence)
        if (entrant.customer_id, key) in admitted:
            continue  # the unique entry key admits the first only
        if cooldown is not None:
            last = latest.get(entrant.customer_id)
            if last is not None and last > entrant.now - cooldown:
                continue
            latest[entrant.customer_id] = max(entrant.now, last or entrant.now)
        admitted[(entrant.customer_id, key)] = index
        rows.append(
            {
                "journey_id": journey.id,
                "version": journey.version,
                "customer_id": entrant.customer_id,
                "entry_key": key,
                "node": document["start"],
                "state": "active",
                "holdout": False,
                "order_id": entrant.order_id if entry["key"] == "order" else None,
                "started_at": entrant.now,
            }
        )
    run_ids: list[int | None] = [None] * len(entrants)
    if not rows:
        return run_ids
    inserted = insert_rows_returning(
        session,
        RUNS,
        rows,
        unique=("journey_id", "customer_id", "entry_key"),
        returning=("id", "customer_id", "entry_key"),
    )
    timers = []
    for run_id, customer_id, key in inserted:
        index = admitted[(customer_id, key)]
        run_ids[index] = int(run_id)
        run = StartedRun(int(run_id), journey.id, journey.version, key, customer_id)
        timers.append(timer_row(run, document["start"], entrants[index].now))
    insert_timers(session, timers)
    return run_ids


class RunStarts:
    """Runs a trigger slice starts, written together at :meth:`flush`: per journey, one
    insert of the runs and one of their first timers (per event they cost two round
    trips). Call :meth:`flush` before anything reads the runs (an exit condition, a
    wake-up)."""

    def __init__(self, session: Session, *, now: datetime) -> None:
        self.session = session
        self.now = now
        self.queued: dict[int, tuple[ActiveJourney, list[Entrant]]] = {}

    def add(
        self,
        journey: ActiveJourney,
        *,
        customer_id: int,
        occurrence: str,
        order_id: int | None = None,
    ) -> None:
        """Start a run (unless the re-entry rules refuse it) at :meth:`flush`."""
        _, entrants = self.queued.setdefault(journey.id, (journey, []))
        entrants.append(Entrant(customer_id, occurrence, self.now, order_id))

    def flush(self) -> None:
        """Write the queued runs (one per journey, customer and entry key: a replayed
        trigger adds none) and the first timers of those that started."""
        for journey, entrants in self.queued.values():
            start_runs(self.session, journey, entrants)
        self.queued = {}


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
    insert_rows(session, TIMERS, rows, unique=("execution_key",))


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


def exit_condition(kind: str, **fields: str) -> Callable[[dict[str, Any]], bool]:
    """A test of a journey's exit condition against what just happened."""

    def matches(condition: dict[str, Any]) -> bool:
        return condition["type"] == kind and all(condition.get(k) == v for k, v in fields.items())

    return matches


def of_kind(journeys: list[ActiveJourney], brand_id: int, kind: str) -> list[ActiveJourney]:
    """The brand's journeys started by ``kind`` triggers."""
    return [j for j in journeys if j.brand_id == brand_id and j.document["trigger"]["type"] == kind]


def start_matching(
    session: Session,
    journeys: list[ActiveJourney],
    *,
    brand_id: int,
    kind: str,
    customer_id: int,
    occurrence: str,
    now: datetime,
    order_id: int | None = None,
    accepts: Callable[[dict[str, Any]], bool] = lambda trigger: True,
) -> int:
    """Start a run of each of the brand's ``kind`` journeys whose trigger ``accepts``."""
    started = 0
    for journey in of_kind(journeys, brand_id, kind):
        if accepts(journey.document["trigger"]):
            run = start_run(
                session,
                journey,
                customer_id=customer_id,
                occurrence=occurrence,
                now=now,
                order_id=order_id,
            )
            started += run is not None
    return started
