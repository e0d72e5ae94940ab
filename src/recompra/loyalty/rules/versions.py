"""Versioned rule sets: an order earns under the version in force at its purchase time."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.orm import Session

from recompra.loyalty.prepared import database_key
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
    forget_rules(program_id)
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


@dataclass(frozen=True)
class CachedVersion:
    """A rule version as the hot path needs it (versions are immutable)."""

    id: int
    version: int
    effective_from: datetime
    rules: list[Rule]


_T = cast(Table, LoyaltyRuleVersion.__table__)
_cache_lock = threading.Lock()
#: (database URL, program id) -> (fingerprint, versions newest-effective first).
_cache: dict[tuple[str, int], tuple[tuple[Any, ...], list[CachedVersion]]] = {}


def rules_fingerprint(program_id: Any) -> list[ColumnElement[Any]]:
    """Scalar subqueries identifying a program's rule versions, to select with the program.

    Versions are immutable and numbered ``max + 1``; the latest id and creation time
    also tell apart a version that was rolled back and another one published later.
    """
    where = _T.c.program_id == program_id
    return [
        select(func.max(_T.c.version)).where(where).scalar_subquery().label("rules_fp0"),
        select(func.max(_T.c.id)).where(where).scalar_subquery().label("rules_fp1"),
        select(func.max(_T.c.created_at)).where(where).scalar_subquery().label("rules_fp2"),
    ]


def fingerprint_of(row: Any) -> tuple[Any, ...]:
    """The fingerprint columns of a row selected with :func:`rules_fingerprint`."""
    return (row.rules_fp0, row.rules_fp1, row.rules_fp2)


def forget_rules(program_id: int | None = None) -> None:
    """Drop cached versions (``publish_rules`` calls it; other processes use the fingerprint)."""
    with _cache_lock:
        if program_id is None:
            _cache.clear()
        else:
            for key in [k for k in _cache if k[1] == program_id]:
                del _cache[key]


def cached_rules_in_force(
    session: Session, *, program_id: int, at: datetime, fingerprint: tuple[Any, ...]
) -> CachedVersion | None:
    """:func:`rules_in_force` from a per-program cache, reloaded when the fingerprint moves."""
    key = (database_key(session), program_id)
    entry = _cache.get(key)
    if entry is None or entry[0] != fingerprint:
        rows = session.execute(
            select(_T.c.id, _T.c.version, _T.c.effective_from, _T.c.rules)
            .where(_T.c.program_id == program_id)
            .order_by(_T.c.effective_from.desc(), _T.c.version.desc())
        ).all()
        versions = [
            CachedVersion(
                id=row.id,
                version=row.version,
                effective_from=row.effective_from,
                rules=build_rules(list(row.rules.get("rules", []))),
            )
            for row in rows
        ]
        entry = (fingerprint, versions)
        with _cache_lock:
            _cache[key] = entry
    for version in entry[1]:
        if version.effective_from <= at:
            return version
    return None
