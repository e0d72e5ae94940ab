"""What a customer merge does with the merged customer's journey runs.

A merge says two profiles are one person, so that person's journeys go on as the
survivor's: a run of the merged customer is re-pointed to the survivor, with its pending
timers (they follow their run), and its later decisions (messages, points, properties,
coupons) are the survivor's. The merged customer's messages and coupons move with the
merge too (``identity._MOVABLE``), so caps count the survivor's messages from both
profiles.

A run the survivor already has (same journey and entry key: the same person entered the
same journey twice, once per profile) cannot move, as ``(journey, customer, entry key)``
is unique, and must not go on either: the person would get each message twice. It ends
(``exited``, reason ``merged``) and stays on the merged customer; the survivor's own run
goes on. Its pending timers are left as they are (a timer of an ended run decides
nothing when it comes due): unlike an exit condition (``automation.runs.end_runs``), a
merge never writes timers, because a worker holds the timers it claimed while it waits
for the customers' rows the merge holds, and the two would wait on each other. The
merge record keeps what it did: an unmerge moves the runs back and revives the ended
ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from recompra.models import CustomerMerge
from recompra.models.automation import RUNS

#: ``exit_reason`` of a run ended because the survivor of a merge has the same run.
MERGED = "merged"


def merge_runs(
    session: Session, *, survivor_id: int, merged_id: int, now: datetime
) -> dict[str, Any]:
    """Re-point the merged customer's runs to the survivor, end those the survivor already
    has; what was done, for the merge record (see the module's docstring)."""
    held = {
        (journey_id, entry_key)
        for journey_id, entry_key in session.execute(
            select(RUNS.c.journey_id, RUNS.c.entry_key).where(RUNS.c.customer_id == survivor_id)
        )
    }
    moved: list[int] = []
    clashing: list[int] = []
    ended: list[dict[str, Any]] = []
    for run_id, journey_id, entry_key, state in session.execute(
        select(RUNS.c.id, RUNS.c.journey_id, RUNS.c.entry_key, RUNS.c.state)
        .where(RUNS.c.customer_id == merged_id)
        .order_by(RUNS.c.id)
    ):
        if (journey_id, entry_key) not in held:
            moved.append(run_id)
        elif state == "active":
            clashing.append(run_id)
    if moved:
        session.execute(update(RUNS).where(RUNS.c.id.in_(moved)).values(customer_id=survivor_id))
    if clashing:
        for run_id, waiting_for in session.execute(
            select(RUNS.c.id, RUNS.c.waiting_for).where(RUNS.c.id.in_(clashing)).order_by(RUNS.c.id)
        ):
            ended.append({"id": run_id, "waiting_for": waiting_for})
        session.execute(
            update(RUNS)
            .where(RUNS.c.id.in_(clashing))
            .values(state="exited", exit_reason=MERGED, finished_at=now, waiting_for=None)
        )
    return {"journey_runs": moved, "journey_runs_ended": ended}


def unmerge_runs(session: Session, *, merge: CustomerMerge) -> None:
    """Undo :func:`merge_runs`: move the runs back and revive the ended ones (their pending
    timers were left pending; one that came due meanwhile found its run ended and is done,
    so such a run stays where it was when the timer fired)."""
    moved = merge.moved.get("journey_runs", [])
    if moved:
        session.execute(
            update(RUNS).where(RUNS.c.id.in_(moved)).values(customer_id=merge.merged_id)
        )
    for entry in merge.moved.get("journey_runs_ended", []):
        session.execute(
            update(RUNS)
            .where(RUNS.c.id == entry["id"], RUNS.c.exit_reason == MERGED)
            .values(
                state="active", exit_reason=None, finished_at=None, waiting_for=entry["waiting_for"]
            )
        )
