"""Evaluating challenges: record completions, grant their points once, award badges.

Evaluation is recomputed from the facts (``progress.py``) and idempotent: a completion is
unique per challenge, customer and period, and its points go through the ledger with the
key ``challenge:<id>:<customer>:<period>``, so running it again (a retry, the daily job
after an on-demand run) changes nothing. It runs for one customer on demand (API, after
a custom event) and for every member of a program as a job (CLI), which is how orders
reach it: the order write path stays as fast as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.loyalty.challenges.definitions import program_challenges
from recompra.loyalty.challenges.progress import Progress, progress_of
from recompra.loyalty.ledger.idempotency import find_stored, store_key
from recompra.loyalty.ledger.postings import record_event
from recompra.loyalty.operations.context import locked_account
from recompra.loyalty.operations.grant import grant_points
from recompra.loyalty.programs import get_program
from recompra.models.engagement import (
    EngagementBadge,
    EngagementBadgeAward,
    EngagementChallenge,
    EngagementCompletion,
)
from recompra.models.loyalty import LoyaltyAccount


@dataclass(frozen=True)
class Completion:
    """A challenge completed by this evaluation (earlier completions are not repeated)."""

    challenge_id: int
    code: str
    period_key: str
    points: int
    badge_code: str | None


def customer_progress(
    session: Session, *, program_id: int, customer_id: int, now: datetime
) -> list[Progress]:
    """The customer's progress on each challenge open now (reads only)."""
    program = get_program(session, program_id=program_id)
    return [
        progress_of(
            session, challenge=c, brand_id=program.brand_id, customer_id=customer_id, now=now
        )
        for c in program_challenges(session, program_id=program.id, now=now)
    ]


def evaluate_customer(
    session: Session, *, program_id: int, customer_id: int, now: datetime
) -> list[Completion]:
    """Complete every challenge the customer has reached in its current period."""
    program = get_program(session, program_id=program_id, active=True)
    account = locked_account(session, program_id=program.id, customer_id=customer_id)
    done: list[Completion] = []
    for challenge in program_challenges(session, program_id=program.id, now=now):
        progress = progress_of(
            session,
            challenge=challenge,
            brand_id=program.brand_id,
            customer_id=customer_id,
            now=now,
        )
        if progress.complete:
            completion = _complete(
                session, account=account, challenge=challenge, progress=progress, now=now
            )
            if completion is not None:
                done.append(completion)
        elif progress.current == progress.target - 1 and progress.current > 0:
            _announce_almost(session, account=account, progress=progress, now=now)
    return done


def evaluate_program(session: Session, *, program_id: int, now: datetime) -> list[Completion]:
    """The job: :func:`evaluate_customer` for every member of the program, in id order."""
    customers = session.scalars(
        select(LoyaltyAccount.customer_id)
        .where(LoyaltyAccount.program_id == program_id)
        .order_by(LoyaltyAccount.id)
    ).all()
    done: list[Completion] = []
    for customer_id in customers:
        done += evaluate_customer(session, program_id=program_id, customer_id=customer_id, now=now)
    return done


def _complete(
    session: Session,
    *,
    account: LoyaltyAccount,
    challenge: EngagementChallenge,
    progress: Progress,
    now: datetime,
) -> Completion | None:
    """Record the completion, grant its points and badge; ``None`` if done before."""
    already = session.scalar(
        select(EngagementCompletion.id).where(
            EngagementCompletion.challenge_id == challenge.id,
            EngagementCompletion.customer_id == account.customer_id,
            EngagementCompletion.period_key == progress.period_key,
        )
    )
    if already is not None:
        return None
    granted = grant_points(
        session,
        program_id=challenge.program_id,
        customer_id=account.customer_id,
        source="challenge",
        key=f"{challenge.id}:{account.customer_id}:{progress.period_key}",
        points=challenge.reward_points,
        now=now,
    )
    _add_with_event(
        session,
        account=account,
        row=EngagementCompletion(
            challenge_id=challenge.id,
            customer_id=account.customer_id,
            period_key=progress.period_key,
            points=granted.points,
            movement_id=granted.movement_id,
            completed_at=now,
        ),
        type_="challenge_completed",
        now=now,
        points=granted.points,
        payload={"challenge": challenge.code, "period": progress.period_key},
    )
    badge = session.get(EngagementBadge, challenge.badge_id) if challenge.badge_id else None
    if badge is not None and not _has_badge(
        session, badge=badge, account=account, progress=progress
    ):
        _add_with_event(
            session,
            account=account,
            row=EngagementBadgeAward(
                badge_id=badge.id,
                customer_id=account.customer_id,
                challenge_id=challenge.id,
                period_key=progress.period_key,
                awarded_at=now,
            ),
            type_="badge_earned",
            now=now,
            payload={"badge": badge.code, "challenge": challenge.code},
        )
    session.flush()
    return Completion(
        challenge_id=challenge.id,
        code=challenge.code,
        period_key=progress.period_key,
        points=granted.points,
        badge_code=badge.code if badge else None,
    )


def _add_with_event(
    session: Session,
    *,
    account: LoyaltyAccount,
    row: EngagementCompletion | EngagementBadgeAward,
    type_: str,
    now: datetime,
    payload: dict[str, Any],
    points: int = 0,
) -> None:
    """Store what happened and the event journeys see for it."""
    session.add(row)
    record_event(session, account=account, type_=type_, now=now, points=points, payload=payload)


def _has_badge(
    session: Session, *, badge: EngagementBadge, account: LoyaltyAccount, progress: Progress
) -> bool:
    """Whether another challenge already gave this badge in this period."""
    found = session.scalar(
        select(EngagementBadgeAward.id).where(
            EngagementBadgeAward.badge_id == badge.id,
            EngagementBadgeAward.customer_id == account.customer_id,
            EngagementBadgeAward.period_key == progress.period_key,
        )
    )
    return found is not None


def _announce_almost(
    session: Session, *, account: LoyaltyAccount, progress: Progress, now: datetime
) -> None:
    """One "challenge almost complete" event per challenge, customer and period (journeys)."""
    key = f"{progress.challenge_id}:{account.customer_id}:{progress.period_key}"
    if find_stored(session, program_id=account.program_id, scope="challenge_almost", key=key):
        return
    # The account is locked by the caller, so no other writer stores this key meanwhile.
    store_key(
        session,
        program_id=account.program_id,
        scope="challenge_almost",
        key=key,
        result={"account_id": account.id, "current": progress.current},
        now=now,
        busy=f"challenge {progress.code!r} is being evaluated concurrently; retry",
    )
    record_event(
        session,
        account=account,
        type_="challenge_almost_complete",
        now=now,
        payload={
            "challenge": progress.code,
            "current": progress.current,
            "target": progress.target,
        },
    )


@dataclass(frozen=True)
class BadgeEarned:
    """One line of a customer's badge history."""

    code: str
    name: str
    challenge_code: str | None
    period_key: str
    awarded_at: datetime


def badge_history(session: Session, *, program_id: int, customer_id: int) -> list[BadgeEarned]:
    """The badges the customer earned in the program, newest first."""
    rows = session.execute(
        select(
            EngagementBadge.code,
            EngagementBadge.name,
            EngagementChallenge.code,
            EngagementBadgeAward.period_key,
            EngagementBadgeAward.awarded_at,
        )
        .join(EngagementBadge, EngagementBadge.id == EngagementBadgeAward.badge_id)
        .outerjoin(EngagementChallenge, EngagementChallenge.id == EngagementBadgeAward.challenge_id)
        .where(
            EngagementBadge.program_id == program_id,
            EngagementBadgeAward.customer_id == customer_id,
        )
        .order_by(EngagementBadgeAward.awarded_at.desc(), EngagementBadgeAward.id.desc())
    ).all()
    return [BadgeEarned(*row) for row in rows]
