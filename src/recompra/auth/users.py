"""Dashboard users: argon2 password hashing, creation, invitation, disabling and sign-in."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.auth.roles import set_role
from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.models import DashboardUser, DashboardUserRole

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2 hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    name: str | None = None,
    brand_id: int | None = None,
    role: str = "admin",
) -> DashboardUser:
    """Create a dashboard user with an argon2-hashed password and ``role`` on ``brand_id``
    (on every brand when ``None``)."""
    email = email.strip().lower()
    if "@" not in email:
        raise InvalidInput("not an e-mail address", field="email")
    if len(password) < 8:
        raise InvalidInput("password must have at least 8 characters", field="password")
    if session.execute(select(DashboardUser.id).where(DashboardUser.email == email)).first():
        raise Conflict(f"user {email} already exists", field="email")
    user = DashboardUser(
        email=email, name=name, password_hash=hash_password(password), brand_id=brand_id
    )
    session.add(user)
    session.flush()
    set_role(session, user_id=user.id, brand_id=brand_id, role=role)
    return user


def invite_user(
    session: Session, *, email: str, name: str | None, brand_id: int | None, role: str
) -> tuple[DashboardUser, str]:
    """Create a user with a random first password; return it (shown once, never stored)."""
    password = secrets.token_urlsafe(12)
    user = create_user(
        session, email=email, password=password, name=name, brand_id=brand_id, role=role
    )
    return user, password


def users_of(session: Session, *, brand_id: int | None) -> list[DashboardUser]:
    """The users an administrator manages: all, or those with a role on ``brand_id``."""
    query = select(DashboardUser).order_by(DashboardUser.email)
    if brand_id is not None:
        query = query.where(
            DashboardUser.id.in_(
                select(DashboardUserRole.user_id).where(DashboardUserRole.brand_id == brand_id)
            ),
            DashboardUser.brand_id == brand_id,
        )
    return list(session.execute(query).scalars())


def managed_user(session: Session, *, user_id: int, brand_id: int | None) -> DashboardUser:
    """A user the administrator may change (else "not found", disclosing nothing)."""
    user = session.get(DashboardUser, user_id)
    if user is None or user not in users_of(session, brand_id=brand_id):
        raise NotFound(f"user {user_id} not found")
    return user


def set_disabled(session: Session, *, user: DashboardUser, disabled: bool) -> None:
    """Disable the user (sign-in and live sessions stop working) or enable it again."""
    user.disabled_at = datetime.now(UTC) if disabled else None
    session.flush()


def authenticate_user(session: Session, *, email: str, password: str) -> DashboardUser | None:
    """The enabled user with these credentials, else ``None``."""
    user = session.execute(
        select(DashboardUser).where(DashboardUser.email == email.strip().lower())
    ).scalar_one_or_none()
    if user is None or user.disabled_at is not None:
        # Hash anyway so that unknown e-mails take as long as wrong passwords.
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    return user


_DUMMY_HASH = _hasher.hash("recompra-timing-equaliser")
