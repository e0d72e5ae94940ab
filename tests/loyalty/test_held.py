"""PostgreSQL: the connections held open for the one-call writes (``ledger.held``) are
reused, replaced when the server ended them, closed with the engine, never shared with a
forked child, bounded by the engine's pool, and hand no call another's ORM state."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select, text

from dbtest import create_test_engine
from recompra.loyalty import earn_order
from recompra.loyalty.ledger import held
from recompra.loyalty.ledger.held import held_session
from recompra.loyalty.ledger.server_side import autocommit_session
from recompra.models import Customer

from .conftest import World

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Engine]:
    """A fresh migrated PostgreSQL database, its pool of one (two with overflow)."""
    yield from create_test_engine("postgres", tmp_path, pool_size=1)


def _backend(engine: Engine) -> int:
    """The server process of the held connection a one-call write takes next."""
    with held_session(engine) as session:
        assert session is not None
        conn = session.bind
        assert isinstance(conn, Connection)
        return int(conn.connection.driver_connection.info.backend_pid)  # type: ignore[union-attr]


def _alive(engine: Engine, pid: int) -> bool:
    with engine.connect() as conn:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
        return bool(conn.execute(query, {"pid": pid}).scalar_one())


def test_calls_reuse_one_connection_and_its_autocommit(pg: Engine) -> None:
    world = World(pg)
    brand, program = world.program()
    customer = world.customer()
    first = _backend(pg)
    earn_order(pg, program_id=program, order_id=world.order(brand, customer))
    assert _backend(pg) == first
    assert pg.pool.checkedout() == 0  # the engine's pool was not used
    with autocommit_session(pg) as session:  # each statement its own transaction
        conn = session.bind
        assert isinstance(conn, Connection)
        assert conn.get_execution_options()["isolation_level"] == "AUTOCOMMIT"


def test_a_connection_the_server_ended_is_replaced_after_idling(
    pg: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(pg)
    brand, program = world.program()
    customer = world.customer()
    first = _backend(pg)
    with pg.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    monkeypatch.setattr(held, "PING_AFTER_IDLE_S", -1.0)  # every take pings
    result = earn_order(pg, program_id=program, order_id=world.order(brand, customer))
    assert result.points > 0
    assert _backend(pg) != first


def test_dispose_closes_the_idle_connections(pg: Engine) -> None:
    first = _backend(pg)
    assert _alive(pg, first)
    pg.dispose()
    assert not _alive(pg, first)
    assert _backend(pg) != first


def test_a_forked_child_opens_its_own_and_leaves_the_parents_alone(pg: Engine) -> None:
    parent = _backend(pg)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        code = 1
        try:
            os.write(write, str(_backend(pg)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_backend = int(pipe.read())
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_backend != parent
    assert _backend(pg) == parent  # still open, and still the parent's
    with autocommit_session(pg) as session:
        assert session.execute(text("SELECT 1")).scalar_one() == 1


def test_at_most_the_pools_size_are_held_then_the_pool_serves(pg: Engine) -> None:
    with held_session(pg) as one, held_session(pg) as two, held_session(pg) as three:
        assert one is not None
        assert two is not None
        assert three is None  # pool_size 1 + overflow 1
        with autocommit_session(pg) as session:
            assert session.execute(text("SELECT 1")).scalar_one() == 1
            assert pg.pool.checkedout() == 1


def test_a_session_left_holding_objects_is_not_handed_on(pg: Engine) -> None:
    customer = World(pg).customer()
    with held_session(pg) as session:
        assert session is not None
        loaded = session.scalars(select(Customer).where(Customer.id == customer)).one()
    with held_session(pg) as session:
        assert session is not None
        assert loaded not in session
        assert not session.identity_map
        assert not session.in_transaction()
