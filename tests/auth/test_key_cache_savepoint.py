"""The revoked-key listener and savepoints: SQLAlchemy's Session fires ``after_commit``
when a savepoint (``session.begin_nested``) is released too, not only at the real commit.
A revoked key must be forgotten at the real commit: forgotten at a savepoint's release
before it, a lookup in between reads the key still valid and caches it again, and nothing
forgets it afterwards (both backends; issue 20)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dbtest import BACKENDS, create_test_engine
from recompra.auth.keys import VerifiedKeys, create_api_key, revoke_api_key
from recompra.db import unit_of_work


@pytest.fixture(params=BACKENDS)
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine(request.param, tmp_path)


def test_a_revoked_key_is_forgotten_at_the_commit_not_at_a_savepoint(any_engine: Engine) -> None:
    engine = any_engine
    with unit_of_work(engine) as session:
        row, plain = create_api_key(session, scopes=["read"])
    keys = VerifiedKeys(engine)
    assert keys.verify(plain) is not None
    with unit_of_work(engine) as session:
        revoke_api_key(session, key_id=row.id)
        with session.begin_nested():  # released here: SQLAlchemy fires after_commit
            session.flush()
        # Another request checks the key before the revocation commits: still valid.
        assert keys.verify(plain) is not None
    assert keys.cached(plain) is None
    assert keys.verify(plain) is None


def test_a_revocation_rolled_back_with_its_savepoint_forgets_nothing_wrongly(
    any_engine: Engine,
) -> None:
    """A revocation undone by its savepoint leaves the key valid (a dropped cache entry
    at the commit is a miss, never a wrong answer)."""
    engine = any_engine
    with unit_of_work(engine) as session:
        row, plain = create_api_key(session, scopes=["read"])
    keys = VerifiedKeys(engine)
    with unit_of_work(engine) as session:
        savepoint = session.begin_nested()
        revoke_api_key(session, key_id=row.id)
        savepoint.rollback()
    assert keys.verify(plain) is not None
