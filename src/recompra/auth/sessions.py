"""Dashboard sessions held server-side, and the sign-in throttle.

A signed cookie cannot be withdrawn, so the cookie carries a random session token whose
hash is a :class:`~recompra.models.DashboardSession` row: sign-out revokes the row and a
copied cookie stops working. Failed sign-ins are rows too, so the throttle holds across
worker processes: after :data:`MAX_FAILURES` failures for one account from one address
within :data:`FAILURE_WINDOW`, that pair is refused until the window has passed (the
OWASP Authentication Cheat Sheet's "login throttling" per account and source).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from recompra.models import DashboardSession, DashboardUser, LoginFailure

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, *, user_id: int, now: datetime, lifetime: timedelta) -> str:
    """Start a session for ``user_id``; return its token (kept only in the cookie)."""
    token = secrets.token_urlsafe(32)
    # The user's ended sessions are of no further use: drop them so rows do not pile up.
    session.execute(
        delete(DashboardSession).where(
            DashboardSession.user_id == user_id,
            (DashboardSession.expires_at <= now) | DashboardSession.revoked_at.is_not(None),
        )
    )
    session.add(
        DashboardSession(
            token_hash=_token_hash(token),
            user_id=user_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return token


def session_user(
    session: Session, *, token: str, user_id: int, now: datetime
) -> DashboardUser | None:
    """The enabled user of a live (unrevoked, unexpired) session ``token``, else ``None``."""
    row = session.execute(
        select(DashboardSession).where(DashboardSession.token_hash == _token_hash(token))
    ).scalar_one_or_none()
    if row is None or row.user_id != user_id or row.revoked_at is not None or row.expires_at <= now:
        return None
    user = session.get(DashboardUser, user_id)
    if user is None or user.disabled_at is not None:
        return None
    return user


def revoke_session(session: Session, *, token: str, now: datetime) -> None:
    """Revoke the session of ``token`` (an unknown or revoked token changes nothing)."""
    session.execute(
        update(DashboardSession)
        .where(
            DashboardSession.token_hash == _token_hash(token), DashboardSession.revoked_at.is_(None)
        )
        .values(revoked_at=now)
    )


def sign_in_throttled(session: Session, *, account: str, address: str, now: datetime) -> bool:
    """Whether ``account`` from ``address`` has failed too often in the recent window."""
    failures = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(
            LoginFailure.account == _account(account),
            LoginFailure.address == address[:64],
            LoginFailure.failed_at > now - FAILURE_WINDOW,
        )
    )
    return (failures or 0) >= MAX_FAILURES


def record_sign_in(
    session: Session, *, account: str, address: str, succeeded: bool, now: datetime
) -> None:
    """Count a failure, or forget the pair's failures after a success."""
    if succeeded:
        session.execute(
            delete(LoginFailure).where(
                LoginFailure.account == _account(account), LoginFailure.address == address[:64]
            )
        )
        return
    # Failures older than the window no longer count: drop the pair's old rows.
    session.execute(
        delete(LoginFailure).where(
            LoginFailure.account == _account(account),
            LoginFailure.address == address[:64],
            LoginFailure.failed_at <= now - FAILURE_WINDOW,
        )
    )
    session.add(LoginFailure(account=_account(account), address=address[:64], failed_at=now))
    session.flush()


def _account(email: str) -> str:
    # Same normalisation as sign-in, so "Ana@x" and "ana@x " share one counter.
    return email.strip().lower()[:320]
