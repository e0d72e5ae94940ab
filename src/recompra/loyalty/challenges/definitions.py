"""Defining badges and challenges of a program (validated before anything is stored)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.loyalty.challenges.periods import check_period
from recompra.loyalty.programs import get_program
from recompra.models.base import Base, utcnow
from recompra.models.engagement import CHALLENGE_METRICS, EngagementBadge, EngagementChallenge

#: Metrics that need a ``subject``: the category slug or the custom event type.
METRICS_WITH_SUBJECT = ("category_orders", "event")
_Definition = TypeVar("_Definition", bound=Base)


def define_badge(
    session: Session, *, program_id: int, code: str, name: str, description: str | None = None
) -> EngagementBadge:
    """Add a badge to the program (codes are unique per program)."""
    program = get_program(session, program_id=program_id, active=True)
    if not code or not name:
        raise InvalidInput("a badge needs a code and a name", field="code")
    badge = EngagementBadge(
        program_id=program.id, code=code, name=name, description=description, created_at=utcnow()
    )
    return store_definition(session, badge, what=f"badge {code!r}")


def define_challenge(
    session: Session,
    *,
    program_id: int,
    code: str,
    name: str,
    metric: str,
    target: int,
    kind: str = "count",
    subject: str | None = None,
    period: str = "once",
    reward_points: int = 0,
    badge_code: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> EngagementChallenge:
    """Add a challenge: ``target`` of ``metric`` per period, or a streak of months."""
    program = get_program(session, program_id=program_id, active=True)
    challenge = EngagementChallenge(
        program_id=program.id,
        code=code,
        name=name,
        kind=kind,
        metric=metric,
        subject=subject,
        target=target,
        period=period,
        reward_points=reward_points,
        starts_at=starts_at,
        ends_at=ends_at,
        active=True,
        created_at=utcnow(),
    )
    _check(challenge)
    if badge_code is not None:
        challenge.badge_id = badge_id_of(session, program_id=program.id, code=badge_code)
    return store_definition(session, challenge, what=f"challenge {code!r}")


def badge_id_of(session: Session, *, program_id: int, code: str) -> int:
    """The id of the program's badge ``code`` (404 if there is none)."""
    badge_id = session.scalar(
        select(EngagementBadge.id).where(
            EngagementBadge.program_id == program_id, EngagementBadge.code == code
        )
    )
    if badge_id is None:
        raise NotFound(f"badge {code!r} not found", field="badge_code")
    return int(badge_id)


def _check(challenge: EngagementChallenge) -> None:
    """Refuse a malformed challenge before it is stored."""
    kind, metric, subject = challenge.kind, challenge.metric, challenge.subject
    if kind not in ("count", "streak"):
        raise InvalidInput("kind must be 'count' or 'streak'", field="kind")
    if metric not in CHALLENGE_METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(CHALLENGE_METRICS)}", field="metric")
    if kind == "streak" and metric != "orders":
        raise InvalidInput("a streak counts months with an order: metric 'orders'", field="metric")
    if (metric in METRICS_WITH_SUBJECT) != bool(subject):
        raise InvalidInput(
            f"metric {metric!r} {'needs' if metric in METRICS_WITH_SUBJECT else 'takes no'} "
            "subject",
            field="subject",
        )
    if challenge.target < 1:
        raise InvalidInput("target must be at least 1", field="target")
    check_period(challenge.period)
    if challenge.reward_points < 0:
        raise InvalidInput("reward_points cannot be negative", field="reward_points")
    starts_at, ends_at = challenge.starts_at, challenge.ends_at
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")


def store_definition(session: Session, row: _Definition, *, what: str) -> _Definition:
    """Insert a definition; a duplicate code is a conflict (nothing else is lost)."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{what} already exists", field="code") from exc
    return row


def program_challenges(
    session: Session, *, program_id: int, now: datetime
) -> list[EngagementChallenge]:
    """The program's active challenges whose window contains ``now``."""
    rows = session.scalars(
        select(EngagementChallenge)
        .where(EngagementChallenge.program_id == program_id, EngagementChallenge.active)
        .order_by(EngagementChallenge.id)
    )
    return [
        c
        for c in rows
        if (c.starts_at is None or c.starts_at <= now) and (c.ends_at is None or now < c.ends_at)
    ]


#: Keys a challenge of a definition document may have (``define_challenge``'s options).
CHALLENGE_KEYS = {
    "code", "name", "metric", "target", "kind", "subject", "period", "reward_points",
    "badge_code", "starts_at", "ends_at",
}  # fmt: skip


def define_from_document(
    session: Session, *, program_id: int, document: dict[str, Any]
) -> tuple[int, int]:
    """Define ``{"badges": [...], "challenges": [...]}`` (a file); returns both counts."""
    badges = document.get("badges", [])
    challenges = document.get("challenges", [])
    if not isinstance(badges, list) or not isinstance(challenges, list):
        raise InvalidInput("'badges' and 'challenges' must be lists", field="document")
    for badge in badges:
        if not isinstance(badge, dict) or not {"code", "name"} <= set(badge) <= {
            "code", "name", "description"
        }:  # fmt: skip
            raise InvalidInput("a badge has code, name and an optional description", field="badges")
        define_badge(session, program_id=program_id, **badge)
    for item in challenges:
        if not isinstance(item, dict) or not set(item) <= CHALLENGE_KEYS:
            raise InvalidInput(
                f"a challenge takes only {sorted(CHALLENGE_KEYS)}", field="challenges"
            )
        dates = {k: _utc(item[k], k) for k in ("starts_at", "ends_at") if item.get(k)}
        define_challenge(session, program_id=program_id, **{**item, **dates})
    return len(badges), len(challenges)


def _utc(value: object, field: str) -> datetime:
    """An ISO timestamp with its zone (a naive one would be ambiguous)."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidInput(f"{field} is not an ISO timestamp: {value!r}", field=field) from exc
    if parsed.tzinfo is None:
        raise InvalidInput(f"{field} needs a time zone (e.g. 'Z')", field=field)
    return parsed
