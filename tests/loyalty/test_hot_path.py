"""The hot path's round trips (counted by the driver), its prepared statements' events
and the stock decrement under concurrent redemptions."""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from psycopg.pq import Trace
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    Table,
    bindparam,
    event,
    insert,
    select,
    text,
)

from dbtest import connections_in_use
from recompra.automation.wakeup import writes_trigger_table
from recompra.db import unit_of_work
from recompra.loyalty import (
    adjust,
    create_reward,
    earn_for_order,
    get_account,
    redeem,
)
from recompra.loyalty.errors import RewardUnavailable
from recompra.loyalty.ledger.server_side import autocommit_session
from recompra.loyalty.prepared import Prepared, _LastTimestamp, run
from recompra.models import LoyaltyReward
from recompra.models.base import UTCDateTime

from .conftest import T0, World


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The statements the engine's connections send meanwhile (seen by its listeners)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "after_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "after_cursor_execute", record)


#: Round trips per write, BEGIN and COMMIT included, as the driver sends them. SQLite:
#: earn = BEGIN, the head (program, order, rules) with the buyer's account, its key and
#: due lots (one statement: BEGIN IMMEDIATE already serialises writers), order lines,
#: balances, movement, event, lot, key, COMMIT; redeem = BEGIN, the account with the reward, key
#: and due lots (one statement, for the same reason), redemption, balances, movement,
#: event, allocations, the lot, the redemption's movement, key, COMMIT. PostgreSQL calls
#: one server-side function per write (migrations 0029 and 0032: the earn's function reads
#: the order and computes the points): earn = BEGIN, the function, COMMIT; redeem = BEGIN,
#: the function, COMMIT.
ROUND_TRIPS = {
    "sqlite": {"earn": 9, "redeem": 11},
    "postgresql": {"earn": 3, "redeem": 3},
}


PREPARING = "(a statement prepared on this connection)"
_PREPARE = re.compile(r'\tParse\t "_pg3_')


def round_trips(sent: list[str]) -> int:
    """The round trips of :func:`_driver_round_trips`'s trace, less the once-per-connection
    preparation of server-prepared statements."""
    return len(sent) - 2 * sent.count(PREPARING)


@contextmanager
def _driver_round_trips(engine: Engine) -> Iterator[list[str]]:
    """What the driver sends on the connections checked out meanwhile, and on the
    connections held open for the one-call writes (``ledger.held``: traced from their
    first statement on): SQLite's own statement trace, or libpq's protocol trace (one
    ``ReadyForQuery`` per round trip) on PostgreSQL. Neither goes through SQLAlchemy or
    the project's statement wrapper."""
    sent: list[str] = []
    traced: dict[int, Any] = {}
    with tempfile.TemporaryFile("w+") as trace_file:

        def checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            traced[id(dbapi_connection)] = dbapi_connection
            if engine.dialect.name == "sqlite":
                dbapi_connection.set_trace_callback(sent.append)
            else:
                dbapi_connection.pgconn.trace(trace_file.fileno())
                dbapi_connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)

        def checkin(dbapi_connection: Any, _record: Any) -> None:
            traced.pop(id(dbapi_connection), None)
            if engine.dialect.name == "sqlite":
                dbapi_connection.set_trace_callback(None)
            else:
                dbapi_connection.pgconn.untrace()

        def statement(conn: Any, *_: Any) -> None:
            dbapi_connection = conn.connection.dbapi_connection
            if id(dbapi_connection) not in traced:  # a connection held outside the pool
                checkout(dbapi_connection, None, None)

        event.listen(engine, "checkout", checkout)
        event.listen(engine, "checkin", checkin)
        event.listen(engine, "before_cursor_execute", statement)
        try:
            yield sent
        finally:
            event.remove(engine, "checkout", checkout)
            event.remove(engine, "checkin", checkin)
            event.remove(engine, "before_cursor_execute", statement)
            for dbapi_connection in list(traced.values()):
                checkin(dbapi_connection, None)
            trace_file.seek(0)
            sent.extend(line for line in trace_file if "\tReadyForQuery" in line)
            trace_file.seek(0)
            # A statement prepared on the server (``Prepared(server_prepared=True)``) costs
            # one more round trip, once per connection: marked so that it is not counted.
            sent.extend(PREPARING for line in trace_file if _PREPARE.search(line))


def test_earn_and_redeem_send_the_round_trips_they_claim(world: World) -> None:
    brand, program = world.program()
    customer = world.customer()
    first, second = world.order(brand, customer), world.order(brand, customer)
    with unit_of_work(world.engine) as s:
        earn_for_order(s, program_id=program, order_id=first, now=T0 + timedelta(1))
        create_reward(s, program_id=program, code="mug", name="Mug", cost_points=10)
    with (
        _driver_round_trips(world.engine) as earned,
        _statements(world.engine) as seen,
        unit_of_work(world.engine) as s,
    ):
        earn_for_order(s, program_id=program, order_id=second, now=T0 + timedelta(1))
    with _driver_round_trips(world.engine) as redeemed, unit_of_work(world.engine) as s:
        redeem(
            s,
            program_id=program,
            customer_id=customer,
            reward_code="mug",
            request_key="r1",
            now=T0 + timedelta(1),
        )
    expected = ROUND_TRIPS[world.engine.dialect.name]
    assert round_trips(earned) == expected["earn"], earned
    assert round_trips(redeemed) == expected["redeem"], redeemed
    # The prepared statements still reach the engine's listeners, and the automation's
    # wake-up sees the lot's insert (on PostgreSQL, inside the earn function).
    assert any(writes_trigger_table(s) for s in seen)


def test_concurrent_redemptions_never_take_more_than_the_stock(world: World) -> None:
    _brand, program = world.program()
    buyers = [world.customer() for _ in range(6)]
    with unit_of_work(world.engine) as s:
        create_reward(s, program_id=program, code="seat", name="Seat", cost_points=10, stock=2)
        for buyer in buyers:
            adjust(
                s,
                program_id=program,
                customer_id=buyer,
                points=50,
                request_key=f"fund-{buyer}",
                reason="test",
                now=T0,
            )
    outcomes: list[str] = []
    barrier = threading.Barrier(len(buyers))

    def attempt(buyer: int) -> None:
        barrier.wait()
        try:
            with unit_of_work(world.engine) as s:
                redeem(
                    s,
                    program_id=program,
                    customer_id=buyer,
                    reward_code="seat",
                    request_key=f"seat-{buyer}",
                    now=T0 + timedelta(1),
                )
            outcomes.append("issued")
        except RewardUnavailable:
            outcomes.append("sold out")

    threads = [threading.Thread(target=attempt, args=(b,)) for b in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["issued"] * 2 + ["sold out"] * 4
    with unit_of_work(world.engine, write=False) as s:
        stock = s.scalar(select(LoyaltyReward.stock).where(LoyaltyReward.program_id == program))
        spent = [get_account(s, program_id=program, customer_id=b).balance for b in buyers]
    assert stock == 0
    assert sorted(spent) == [40, 40, 50, 50, 50, 50]


_PROBE = Table(
    "hot_path_probe",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("x", Integer, nullable=False),
)
_INSERT_PROBE = Prepared(insert(_PROBE), columns=["x"])


def _failing_unit(engine: Engine, *, commit_first: bool) -> None:
    """A unit of work that inserts 2 and fails; or inserts 3, commits, inserts 4 and fails."""
    with unit_of_work(engine) as session:
        if commit_first:
            run(session, _INSERT_PROBE, {"x": 3})
            session.commit()
            run(session, _INSERT_PROBE, {"x": 4})
        else:
            run(session, _INSERT_PROBE, {"x": 2})
        raise RuntimeError("the write fails")


def test_a_unit_of_work_of_prepared_statements_only_ends_on_its_connection(world: World) -> None:
    """The hot path's unit of work never begins the session's transaction: it commits or
    rolls back the connection's own, the engine's and the session's commit listeners
    still run, and a statement after a caller's ``session.commit()`` runs in a new
    transaction that the unit of work rolls back, not in the driver's autocommit."""
    engine = world.engine
    _PROBE.create(engine, checkfirst=True)
    ended: list[str] = []
    engine_ends: list[str] = []
    listeners = [
        (name, lambda _conn, name=name: engine_ends.append(name)) for name in ("commit", "rollback")
    ]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        with unit_of_work(engine) as session:
            event.listen(session, "after_commit", lambda _s: ended.append("commit"))
            run(session, _INSERT_PROBE, {"x": 1})
            assert not session.in_transaction()  # the ORM's transaction never began
        assert ended == ["commit"]
        assert engine_ends == ["commit"]

        with pytest.raises(RuntimeError):
            _failing_unit(engine, commit_first=False)
        assert engine_ends == ["commit", "rollback"]

        with pytest.raises(RuntimeError):
            _failing_unit(engine, commit_first=True)
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
    with unit_of_work(engine, write=False) as session:
        assert sorted(session.scalars(select(_PROBE.c.x))) == [1, 3]
    assert connections_in_use(engine) == 0


def test_prepared_statements_in_autocommit_run_on_the_connection_alone(world: World) -> None:
    """In an autocommit session (the one-call writes') a prepared statement runs on the
    connection, its own transaction: committed at once, and the session's ORM
    transaction never begun (nothing to end when the session closes)."""
    engine = world.engine
    _PROBE.create(engine, checkfirst=True)
    with autocommit_session(engine) as session:
        run(session, _INSERT_PROBE, {"x": 10})
        assert not session.in_transaction()
        run(session, _INSERT_PROBE, {"x": 11})  # the connection kept for the session
        assert not session.in_transaction()
        with engine.connect() as other:  # committed already, seen from elsewhere
            seen = other.scalars(select(_PROBE.c.x).where(_PROBE.c.x >= 10)).all()
            assert sorted(seen) == [10, 11]
    assert connections_in_use(engine) == 0
    with engine.begin() as conn:
        conn.execute(_PROBE.delete().where(_PROBE.c.x >= 10))


def test_the_shared_timestamp_processor_converts_as_its_processor_does() -> None:
    """Interleaved timestamps (more of them than it remembers), repeated and ``None``:
    each conversion equals the wrapped processor's own, called afresh."""
    calls: list[datetime] = []

    def processor(value: datetime) -> str:
        calls.append(value)
        return value.astimezone(UTC).isoformat()

    shared = _LastTimestamp(processor)
    stamps = [datetime(2025, 1, 1, hour, tzinfo=UTC) for hour in range(6)]
    order = [0, 1, 0, 2, 3, 4, 0, 5, 1, 5, 5, 2]
    converted = [shared(stamps[i]) for i in order]
    assert converted == [stamps[i].isoformat() for i in order]
    assert shared(None) is None
    # The last four conversions are remembered (first in, first out; a hit changes
    # nothing): 0 1 (0 hit) 2 3 4 0 5 1 (5 5 hits) 2 are converted, 9 calls.
    assert len(calls) == 9


_STAMPS = Table(
    "hot_path_stamps",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime),
)
_READ_STAMP = Prepared(select(_STAMPS.c.at).where(_STAMPS.c.id == bindparam("id")))


_WRITE_STAMP = Prepared(_STAMPS.insert(), columns=["id", "at"])


def test_a_prepared_statement_writes_timestamps_as_the_column_type_does(world: World) -> None:
    """Aware timestamps in several zones, with and without microseconds, and ``NULL``,
    written by a prepared statement (on SQLite its one-call conversion to text) are stored
    exactly as SQLAlchemy's own processors store them, row for row (compared as stored,
    text on SQLite); a naive timestamp is refused by both."""
    engine = world.engine
    _STAMPS.create(engine, checkfirst=True)
    stamps: list[datetime | None] = [
        datetime(2026, 12, 6, 13, 15, 56, 154070, tzinfo=UTC),
        datetime(2026, 12, 6, 13, 15, 56, tzinfo=UTC),
        datetime(2026, 12, 6, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-3))),
        datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=UTC),
        None,
    ]
    try:
        with unit_of_work(engine) as session:
            for n, at in enumerate(stamps):
                run(session, _WRITE_STAMP, {"id": n, "at": at})  # prepared
        with engine.begin() as conn:  # SQLAlchemy's processors
            rows = [{"id": 100 + n, "at": at} for n, at in enumerate(stamps)]
            conn.execute(insert(_STAMPS), rows)
        with engine.connect() as conn:
            stored = dict(conn.execute(text("SELECT id, at FROM hot_path_stamps")).all())
        for n in range(len(stamps)):
            assert stored[n] == stored[100 + n]
        if engine.dialect.name == "sqlite":
            assert stored[2] == "2026-12-07 02:59:59.999999"  # 23:59:59.999999 at UTC-3
        naive = datetime(2026, 12, 6, 13, 15, 56, tzinfo=UTC).replace(tzinfo=None)
        with pytest.raises(ValueError, match="naive"), unit_of_work(engine) as session:
            run(session, _WRITE_STAMP, {"id": 50, "at": naive})
        with pytest.raises(Exception, match="naive"), engine.begin() as conn:
            conn.execute(insert(_STAMPS), {"id": 51, "at": naive})
    finally:
        _STAMPS.drop(engine)


def test_a_prepared_statement_reads_timestamps_as_aware_utc(world: World) -> None:
    """Timestamps written as text by hand (with and without microseconds, with an offset)
    and ``NULL`` come back from a prepared statement as the instants they name, in UTC
    (on SQLite through the one-call parse of ``prepared._result_processor``)."""
    engine = world.engine
    _STAMPS.create(engine, checkfirst=True)
    written = {
        1: ("2026-12-06 13:15:56.154070", datetime(2026, 12, 6, 13, 15, 56, 154070, tzinfo=UTC)),
        2: ("2026-12-06 13:15:56", datetime(2026, 12, 6, 13, 15, 56, tzinfo=UTC)),
        3: ("2026-12-06 13:15:56+02:00", datetime(2026, 12, 6, 11, 15, 56, tzinfo=UTC)),
        4: (None, None),
    }
    with engine.begin() as conn:
        for key, (text_value, _) in written.items():
            conn.execute(
                text("INSERT INTO hot_path_stamps (id, at) VALUES (:id, :at)"),
                {"id": key, "at": text_value},
            )
    with unit_of_work(engine, write=False) as session:
        for key, (_, expected) in written.items():
            read = run(session, _READ_STAMP, {"id": key}).scalar_one()
            assert read == expected
            if expected is not None:
                assert read.utcoffset() == timedelta(0)
    _STAMPS.drop(engine)
