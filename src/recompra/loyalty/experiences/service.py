"""Experiential rewards: catalogue rewards that grant access (early access, an event seat).

An experience *is* a reward of ``loyalty/rewards`` (its cost, its capacity as stock, its
tier and its limit per customer are checked by ``redeem``); this module adds the two
restrictions a discount never has, a badge and a live segment, checked first under the
same unit of work. Every refusal is one error, ``409 experience_restricted``, whose field
says what is missing (``tier``, ``badge`` or ``segment``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.loyalty.challenges.definitions import badge_id_of, store_definition
from recompra.loyalty.errors import TierRequired
from recompra.loyalty.ledger.results import RedemptionResult
from recompra.loyalty.programs import find_account, get_program
from recompra.loyalty.rewards.catalog import create_reward
from recompra.loyalty.rewards.redemption import redeem
from recompra.loyalty.tiers.service import effective_tier
from recompra.models.engagement import EngagementBadgeAward, EngagementExperience
from recompra.models.loyalty import LoyaltyReward
from recompra.models.segments import Segment, SegmentMember

EXPERIENCE_KINDS = ("early_access", "event_seat")


class ExperienceRestricted(Conflict):
    """The customer lacks the tier, badge or segment the experience asks for."""

    code = "experience_restricted"


@dataclass(frozen=True)
class ExperienceView:
    """An experience as a customer sees it, with whether they may redeem it and why not."""

    code: str
    name: str
    kind: str
    cost_points: int
    seats_left: int | None
    happens_at: datetime | None
    eligible: bool
    missing: str | None


def define_experience(
    session: Session,
    *,
    program_id: int,
    code: str,
    name: str,
    kind: str,
    cost_points: int,
    capacity: int | None = None,
    min_tier_rank: int | None = None,
    badge_code: str | None = None,
    segment_key: str | None = None,
    happens_at: datetime | None = None,
    per_customer_limit: int | None = 1,
    description: str | None = None,
) -> EngagementExperience:
    """Add an experience: a catalogue reward plus its badge and segment restrictions."""
    program = get_program(session, program_id=program_id, active=True)
    if kind not in EXPERIENCE_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(EXPERIENCE_KINDS)}", field="kind")
    badge_id = segment_id = None
    if badge_code is not None:
        badge_id = badge_id_of(session, program_id=program.id, code=badge_code)
    if segment_key is not None:
        segment_id = session.scalar(
            select(Segment.id).where(
                Segment.brand_id == program.brand_id, Segment.key == segment_key
            )
        )
        if segment_id is None:
            raise NotFound(f"segment {segment_key!r} not found", field="segment_key")
    reward = create_reward(
        session,
        program_id=program.id,
        code=code,
        name=name,
        cost_points=cost_points,
        stock=capacity,
        per_customer_limit=per_customer_limit,
        min_tier_rank=min_tier_rank,
    )
    experience = EngagementExperience(
        reward_id=reward.id,
        kind=kind,
        badge_id=badge_id,
        segment_id=segment_id,
        happens_at=happens_at,
        description=description,
    )
    return store_definition(session, experience, what=f"experience {code!r}")


def _missing(
    session: Session,
    *,
    reward: LoyaltyReward,
    experience: EngagementExperience,
    customer_id: int,
    now: datetime,
) -> str | None:
    """What the customer lacks for the experience (``tier``, ``badge``, ``segment``)."""
    if reward.min_tier_rank is not None:
        account = find_account(session, program_id=reward.program_id, customer_id=customer_id)
        tier = effective_tier(session, account=account, now=now) if account else None
        if tier is None or tier.rank < reward.min_tier_rank:
            return "tier"
    if experience.badge_id is not None:
        held = session.scalar(
            select(EngagementBadgeAward.id).where(
                EngagementBadgeAward.badge_id == experience.badge_id,
                EngagementBadgeAward.customer_id == customer_id,
            )
        )
        if held is None:
            return "badge"
    if experience.segment_id is not None:
        member = session.get(SegmentMember, (experience.segment_id, customer_id))
        if member is None:
            return "segment"
    return None


def customer_experiences(
    session: Session, *, program_id: int, customer_id: int, now: datetime
) -> list[ExperienceView]:
    """The program's active experiences and whether this customer may redeem each."""
    rows = session.execute(
        select(LoyaltyReward, EngagementExperience)
        .join(EngagementExperience, EngagementExperience.reward_id == LoyaltyReward.id)
        .where(LoyaltyReward.program_id == program_id, LoyaltyReward.active)
        .order_by(EngagementExperience.happens_at, LoyaltyReward.id)
    ).all()
    views = []
    for reward, experience in rows:
        missing = _missing(
            session, reward=reward, experience=experience, customer_id=customer_id, now=now
        )
        views.append(
            ExperienceView(
                code=reward.code,
                name=reward.name,
                kind=experience.kind,
                cost_points=reward.cost_points,
                seats_left=reward.stock,
                happens_at=experience.happens_at,
                eligible=missing is None,
                missing=missing,
            )
        )
    return views


def redeem_experience(
    session: Session,
    *,
    program_id: int,
    customer_id: int,
    code: str,
    request_key: str,
    now: datetime,
) -> RedemptionResult:
    """Redeem an experience: its restrictions first, then the catalogue's ``redeem``."""
    found = session.execute(
        select(LoyaltyReward, EngagementExperience)
        .join(EngagementExperience, EngagementExperience.reward_id == LoyaltyReward.id)
        .where(LoyaltyReward.program_id == program_id, LoyaltyReward.code == code)
    ).first()
    if found is None:
        raise NotFound(f"experience {code!r} not found", field="code")
    reward, experience = found
    missing = _missing(
        session, reward=reward, experience=experience, customer_id=customer_id, now=now
    )
    if missing is not None:
        raise ExperienceRestricted(f"experience {code!r} needs a {missing}", field=missing)
    try:
        return redeem(
            session,
            program_id=program_id,
            customer_id=customer_id,
            reward_code=code,
            request_key=request_key,
            now=now,
        )
    except TierRequired as exc:  # the tier fell between the check and the lock
        raise ExperienceRestricted(exc.message, field="tier") from exc
