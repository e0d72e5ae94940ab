"""The claim's in-batch ``ANALYZE journey_timers`` (PostgreSQL) when the database user may
not analyse the table: asked once, logged once, never attempted.

PostgreSQL lets only the table's owner (or the database's, a superuser, or on 17 a holder
of ``MAINTAIN``) analyse it; anyone else's ``ANALYZE`` is skipped with a warning and the
statistics stay stale, so each claim tried (and warned) again. Here the worker connects
as a role that was granted every table but owns none.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

from dbtest import create_test_engine
from recompra.automation import claim
from recompra.db import make_engine, unit_of_work


@pytest.fixture
def owner(tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine("postgres", tmp_path)


@pytest.fixture
def stranger(owner: Engine) -> Iterator[Engine]:
    """An engine on the owner's database as a role granted every table, owning none."""
    role = f"worker_{uuid.uuid4().hex[:8]}"
    with owner.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}"))
        conn.commit()
    engine = make_engine(
        make_url(owner.url.render_as_string(hide_password=False))
        .set(username=role, password=None)
        .render_as_string(hide_password=False)
    )
    try:
        yield engine
    finally:
        engine.dispose()
        with owner.connect() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
            conn.commit()


def _make_stale(engine: Engine) -> None:
    """Adds enough rows to ``journey_timers`` for :func:`claim.refresh_statistics` to find
    it stale (without their runs: the foreign key is dropped, this database is the
    test's), and has the statistics collector count them at once."""
    with engine.connect() as conn:
        conn.execute(
            text("ALTER TABLE journey_timers DROP CONSTRAINT fk_journey_timers_run_id_journey_runs")
        )
        conn.execute(
            text(
                "INSERT INTO journey_timers (run_id, node, execution_key, due_at, state, "
                "created_at) SELECT 1, 'n', 'k' || x, now(), 'pending', now() "
                "FROM generate_series(1, :n) AS s(x)"
            ),
            {"n": 2 * claim.STALE_ROWS},
        )
        conn.commit()
        conn.execute(text("SELECT pg_stat_force_next_flush()"))
        conn.commit()


def _analyses(engine: Engine, runs: int) -> int:
    """``ANALYZE`` statements issued by ``runs`` calls of refresh_statistics."""
    issued: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("ANALYZE"):
            issued.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(runs):
            with unit_of_work(engine) as session:
                claim.refresh_statistics(session)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(issued)


@pytest.mark.postgres
def test_a_user_who_may_not_analyse_is_told_once_and_never_tries(
    owner: Engine, stranger: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _make_stale(owner)
    with caplog.at_level(logging.WARNING, logger=claim.__name__):
        assert _analyses(stranger, 3) == 0
    refusals = [r for r in caplog.records if "may not ANALYZE" in r.getMessage()]
    assert len(refusals) == 1


@pytest.mark.postgres
def test_the_owner_analyses_a_stale_table(owner: Engine) -> None:
    _make_stale(owner)
    assert _analyses(owner, 1) == 1
