"""Versioned rule sets: an order earns under the version in force at its purchase time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.loyalty.programs import get_program
from recompra.loyalty.rules.strategies import Rule, build_rules
from recompra.models.base import utcnow
from recompra.models.loyalty import LoyaltyRuleVersion


def publish_rules(
    session: Session,
    *,
    program_id: int,
    rules: list[dict[str, Any]],
    effective_from: datetime,
    note: str | None = None,
) -> LoyaltyRuleVersion:
    """Validate and store a new immutable rule version, in force from ``effective_from``."""
    get_program(session, program_id=program_id)
    build_rules(rules)  # refuses a malformed version before anything is stored
    last = session.scalar(
        select(func.max(LoyaltyRuleVersion.version)).where(
            LoyaltyRuleVersion.program_id == program_id
        )
    )
    version = LoyaltyRuleVersion(
        program_id=program_id,
        version=int(last or 0) + 1,
        effective_from=effective_from,
        rules={"rules": rules},
        note=note,
        created_at=utcnow(),
    )
    session.add(version)
    session.flush()
    return version


def rules_in_force(
    session: Session, *, program_id: int, at: datetime
) -> tuple[LoyaltyRuleVersion | None, list[Rule]]:
    """The version in force at ``at`` (latest ``effective_from <= at``) and its rules."""
    stmt = (
        select(LoyaltyRuleVersion)
        .where(
            LoyaltyRuleVersion.program_id == program_id,
            LoyaltyRuleVersion.effective_from <= at,
        )
        .order_by(LoyaltyRuleVersion.effective_from.desc(), LoyaltyRuleVersion.version.desc())
        .limit(1)
    )
    version = session.scalars(stmt).first()
    if version is None:
        return None, []
    return version, build_rules(list(version.rules.get("rules", [])))
