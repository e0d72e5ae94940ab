"""What every trigger feed shares: its cursor row (locked, so two workers never read the
same slice), time cursors, and starting the brand's journeys of one trigger type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from recompra.automation.runs import ActiveJourney, start_run
from recompra.db.dialect import insert_ignoring_conflicts
from recompra.models.automation import CURSORS, FeedCursor

_Ts = TypeVarTuple("_Ts")


def cursor(session: Session, feed: str, *, start: int = 0) -> FeedCursor | None:
    """The feed's cursor row (created at ``start``), locked; ``None`` when another worker
    holds it."""
    session.execute(
        insert_ignoring_conflicts(session, CURSORS, index_elements=("feed",)),
        {"feed": feed, "position": start},
    )
    return session.scalar(
        select(FeedCursor).where(FeedCursor.feed == feed).with_for_update(skip_locked=True)
    )


def read_by_id(
    session: Session, feed: str, statement: Select[*_Ts], id_column: Any, *, limit: int
) -> Sequence[Row[*_Ts]]:
    """The next ``limit`` rows of an append-only feed past its cursor, in id order (the
    statement's first column is that id), with the cursor moved past them; none when
    another worker holds the feed."""
    position = cursor(session, feed)
    if position is None:
        return []
    rows = session.execute(
        statement.where(id_column > position.position).order_by(id_column).limit(limit)
    ).all()
    if rows:
        position.position = rows[-1]._mapping[id_column]
    return rows


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
