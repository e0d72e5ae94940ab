"""Dashboard users: argon2 password hashing, creation and sign-in."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.errors import Conflict, InvalidInput
from recompra.models import DashboardUser

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
) -> DashboardUser:
    """Create a dashboard user with an argon2-hashed password."""
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
    return user


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
