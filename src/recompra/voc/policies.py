"""SLA policies: which targets a case gets, and its deadlines from its status history.

A policy names any of priority, type and channel; the one matching the most of them
wins (ties: the oldest). A brand without a matching policy gets :data:`DEFAULT_TARGETS`
by priority on the default calendar, so every case has a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.errors import InvalidInput
from recompra.models.voc import (
    CASE_CHANNELS,
    CASE_PRIORITIES,
    CASE_TYPES,
    Case,
    CaseStatusChange,
    SlaPolicy,
)
from recompra.voc.sla import BusinessCalendar, Pause, add_business_minutes

#: Business minutes (first response, resolution) by priority when no policy matches.
DEFAULT_TARGETS: dict[str, tuple[int, int]] = {
    "urgent": (60, 8 * 60),
    "high": (4 * 60, 2 * 9 * 60),
    "normal": (8 * 60, 5 * 9 * 60),
    "low": (2 * 9 * 60, 10 * 9 * 60),
}
PAUSING = "waiting_on_customer"


@dataclass(frozen=True)
class Targets:
    """The targets in force for a case (``policy_id`` ``None``: the defaults)."""

    policy_id: int | None
    first_response_minutes: int
    resolution_minutes: int
    calendar: BusinessCalendar


def brand_policies(session: Session, *, brand_id: int) -> list[SlaPolicy]:
    """The brand's policies, oldest first."""
    return list(
        session.scalars(
            select(SlaPolicy).where(SlaPolicy.brand_id == brand_id).order_by(SlaPolicy.id)
        )
    )


def targets_for(
    policies: Sequence[SlaPolicy], *, priority: str, case_type: str, channel: str
) -> Targets:
    """The most specific policy matching the case, else the defaults."""
    best: tuple[int, SlaPolicy] | None = None
    for policy in policies:
        wanted = (
            (policy.priority, priority),
            (policy.case_type, case_type),
            (policy.channel, channel),
        )
        if any(rule is not None and rule != value for rule, value in wanted):
            continue
        named = sum(rule is not None for rule, _ in wanted)
        if best is None or named > best[0]:
            best = (named, policy)
    if best is None:
        first, resolution = DEFAULT_TARGETS[priority]
        return Targets(None, first, resolution, BusinessCalendar())
    policy = best[1]
    return Targets(
        policy.id,
        policy.first_response_minutes,
        policy.resolution_minutes,
        BusinessCalendar.from_json(policy.calendar),
    )


def set_policy(
    session: Session,
    *,
    brand_id: int,
    name: str,
    priority: str | None,
    case_type: str | None,
    channel: str | None,
    first_response_minutes: int,
    resolution_minutes: int,
    calendar: dict[str, Any] | None = None,
) -> SlaPolicy:
    """Create or replace the brand's policy ``name`` (open cases keep their deadlines
    until their next status change)."""
    for field, value, known in (
        ("priority", priority, CASE_PRIORITIES),
        ("case_type", case_type, CASE_TYPES),
        ("channel", channel, CASE_CHANNELS),
    ):
        if value is not None and value not in known:
            raise InvalidInput(f"{field} must be one of {', '.join(known)}", field=field)
    if first_response_minutes <= 0 or resolution_minutes <= 0:
        raise InvalidInput("targets are positive business minutes", field="resolution_minutes")
    try:
        stored = BusinessCalendar.from_json(calendar or {}).to_json()
    except (ValueError, TypeError, KeyError) as error:
        raise InvalidInput(f"invalid calendar: {error}", field="calendar") from error
    policy = session.scalar(
        select(SlaPolicy).where(SlaPolicy.brand_id == brand_id, SlaPolicy.name == name)
    )
    if policy is None:
        policy = SlaPolicy(brand_id=brand_id, name=name)
        session.add(policy)
    policy.priority, policy.case_type, policy.channel = priority, case_type, channel
    policy.first_response_minutes = first_response_minutes
    policy.resolution_minutes = resolution_minutes
    policy.calendar = stored
    session.flush()
    return policy


def pauses_of(history: Sequence[CaseStatusChange]) -> list[Pause]:
    """The stretches a case spent waiting on the customer (the last may still be open)."""
    pauses: list[Pause] = []
    since: datetime | None = None
    for change in sorted(history, key=lambda c: (c.at, c.id or 0)):
        if change.to_status == PAUSING and since is None:
            since = change.at
        elif change.to_status != PAUSING and since is not None:
            pauses.append((since, change.at))
            since = None
    if since is not None:
        pauses.append((since, None))
    return pauses


def refresh_deadlines(case: Case, targets: Targets, history: Sequence[CaseStatusChange]) -> None:
    """Recompute both deadlines from the opening, the targets and the pauses so far.

    A clock already stopped (first response sent, case resolved) only counts the pauses
    that began before it stopped: waiting on the customer later changes nothing for it.
    """
    pauses = pauses_of(history)

    def deadline(minutes: int, done_at: datetime | None) -> datetime | None:
        counted = pauses
        if done_at is not None:
            # The clock stopped at done_at: a pause counts only up to then.
            counted = [
                (since, done_at if until is None else min(until, done_at))
                for since, until in pauses
                if since < done_at
            ]
        return add_business_minutes(targets.calendar, case.opened_at, minutes, counted)

    case.sla_policy_id = targets.policy_id
    case.first_response_due_at = deadline(targets.first_response_minutes, case.first_response_at)
    case.resolution_due_at = deadline(targets.resolution_minutes, case.resolved_at)
