"""The ledger's hot-path indexes: a movement without a batch adds no entry to the batch
index, and the lookup by batch still uses it (migration 0031); the indexes no query reads
(movements by order, events by account) are gone (migration 0033); an idempotency key is
one B-tree, its primary key (migration 0039)."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, inspect, text

from recompra.db import UNIT_CONNECTION, unit_of_work
from recompra.db.dialect import is_sqlite
from recompra.errors import Conflict
from recompra.loyalty import adjust
from recompra.loyalty.ledger.idempotency import ACCOUNT_WITH_KEY_AND_DUE, find_stored, store_key
from recompra.loyalty.ledger.locks import LOCK_ACCOUNT_ROW
from recompra.loyalty.ledger.postings import ALLOCATE_FROM_LOTS
from recompra.loyalty.prepared import Prepared, run
from recompra.loyalty.rewards.redemption import ACCOUNT_AND_REDEEM_HEAD

from .conftest import T0, World

#: The partial indexes of ``loyalty_movements`` and their column.
PARTIAL = (("ix_loyalty_movements_batch_id", "batch_id"),)
#: Columns of the tables every ledger write inserts into that no query looks rows up by:
#: an index leading with one would be a page written per write and read by nothing.
UNREAD = (("loyalty_movements", "order_id"), ("loyalty_events", "account_id"))


def _plan(engine: Engine, statement: str, value: str | None = None) -> str:
    """The query plan of ``statement`` (its one parameter, if any, bound to ``value``)."""
    with unit_of_work(engine, write=False) as session:
        connection = session.connection()
        if is_sqlite(connection):
            rows = connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", () if value is None else (value,)
            )
            return "\n".join(str(row[-1]) for row in rows)
        # The table is empty, so PostgreSQL would rightly read it whole; with sequential
        # scans priced out, the plan shows which index the statement can use at all.
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql(
            f"EXPLAIN {statement}", {} if value is None else {"x": value}
        )
        return "\n".join(str(row[0]) for row in rows)


@pytest.mark.parametrize(("index", "column"), PARTIAL)
def test_a_lookup_by_value_uses_the_index(engine: Engine, index: str, column: str) -> None:
    x = "?" if engine.dialect.name == "sqlite" else "%(x)s"
    value = x if column == "batch_id" else f"CAST({x} AS BIGINT)"
    plan = _plan(engine, f"SELECT id FROM loyalty_movements WHERE {column} = {value}", "7")
    assert index in plan


@pytest.mark.parametrize(("index", "column"), PARTIAL)
def test_the_index_holds_no_null(engine: Engine, index: str, column: str) -> None:
    # An index that holds the NULLs could answer ``IS NULL``; the partial one cannot,
    # since it has no entry for them: the hot path's movements write none.
    plan = _plan(engine, f"SELECT id FROM loyalty_movements WHERE {column} IS NULL")
    assert index not in plan


@pytest.mark.parametrize(("table", "column"), UNREAD)
def test_no_index_leads_with_a_column_no_query_reads(
    engine: Engine, table: str, column: str
) -> None:
    with unit_of_work(engine, write=False) as session:
        indexes = inspect(session.connection()).get_indexes(table)
    leading = {index["name"]: index["column_names"][0] for index in indexes}
    assert column not in leading.values(), leading


@pytest.mark.parametrize(
    "statement",
    [ACCOUNT_WITH_KEY_AND_DUE, ACCOUNT_AND_REDEEM_HEAD, LOCK_ACCOUNT_ROW],
    ids=["earn", "redemption", "lock"],
)
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # SQLite's query plan
def test_the_lock_statements_build_no_temporary_btree(engine: Engine, statement: Prepared) -> None:
    """Every ledger write's first statement finds the account holding the customer's
    points (their company's pool, if any) and evaluates the pool lookup twice: its
    ``UNION`` of the program's brands and its ``ORDER BY ... LIMIT 1`` built four
    temporary B-trees a write on SQLite (issue 20); ``UNION ALL`` and ``min()`` give the
    same answer without them."""
    compiled = statement.for_dialect(engine.dialect)
    with unit_of_work(engine, write=False) as session:
        rows = session.connection().exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled.sql}", tuple(1 for _ in compiled.names)
        )
        plan = "\n".join(str(row[-1]) for row in rows)
    assert "company_account_members" in plan
    assert "TEMP B-TREE" not in plan, plan


def test_an_idempotency_key_is_written_to_one_btree(engine: Engine) -> None:
    """Every ledger write stores a key: one B-tree for it, not a table and an index
    (migration 0039). On SQLite a rowid table is a B-tree of its own besides its
    indexes', so only ``WITHOUT ROWID`` with the key as primary key is one; on PostgreSQL
    the heap is not a B-tree and the primary key's index is the one."""
    with unit_of_work(engine, write=False) as session:
        connection = session.connection()
        if is_sqlite(connection):
            btrees = connection.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE tbl_name = 'loyalty_idempotency_keys'"
                    " AND rootpage > 0"
                )
            ).all()
        else:
            btrees = connection.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'loyalty_idempotency_keys'"
                )
            ).all()
        key = inspect(connection).get_pk_constraint("loyalty_idempotency_keys")
    assert len(btrees) == 1, btrees
    assert key["constrained_columns"] == ["program_id", "scope", "key"]


def test_the_key_lookup_uses_the_primary_key(engine: Engine) -> None:
    x = "?" if engine.dialect.name == "sqlite" else "%(x)s"
    plan = _plan(
        engine,
        "SELECT result FROM loyalty_idempotency_keys"
        f" WHERE program_id = 1 AND scope = 'earn' AND key = {x}",
        "k",
    )
    index = "PRIMARY KEY" if engine.dialect.name == "sqlite" else "pk_loyalty_idempotency_keys"
    assert index in plan, plan


def test_a_key_stored_twice_is_a_conflict_and_keeps_its_first_result(world: World) -> None:
    # The primary key is the uniqueness the protocol relies on (ADR 0003): the second
    # insert of a key inserts nothing and says so (no row returned), whatever its result.
    _, program_id = world.program()
    now = datetime(2026, 12, 6, tzinfo=UTC)
    key = {"program_id": program_id, "scope": "earn", "key": "order-1"}
    with unit_of_work(world.engine) as session:
        store_key(session, **key, result={"n": 1}, now=now, busy="busy")
    with pytest.raises(Conflict), unit_of_work(world.engine) as session:
        store_key(session, **key, result={"n": 2}, now=now, busy="busy")
    with unit_of_work(world.engine) as session:
        store_key(session, **{**key, "scope": "redeem"}, result={"n": 3}, now=now, busy="busy")
    with unit_of_work(world.engine, write=False) as session:
        assert find_stored(session, **key) == {"n": 1}
        assert find_stored(session, **{**key, "scope": "redeem"}) == {"n": 3}


class _Rollback(Exception):
    """Ends a unit of work without keeping what it wrote."""


def _allocation_steps(world: World, program: int, customer: int) -> int:
    """SQLite virtual-machine instructions of one allocation of 5 points from the
    customer's lots (rolled back), counted by the driver's progress handler."""
    with unit_of_work(world.engine, write=False) as s:
        account, movement = s.execute(
            text(
                "SELECT a.id, max(m.id) FROM loyalty_accounts a JOIN loyalty_movements m"
                " ON m.account_id = a.id WHERE a.program_id = :p AND a.customer_id = :c"
                " GROUP BY a.id"
            ),
            {"p": program, "c": customer},
        ).one()
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0  # go on

    with suppress(_Rollback), unit_of_work(world.engine) as session:
        driver = session.info[UNIT_CONNECTION].connection.dbapi_connection
        driver.set_progress_handler(count, 1)
        try:
            taken = run(
                session,
                ALLOCATE_FROM_LOTS,
                {
                    "account_id": account,
                    "movement_id": movement,
                    "points": 5,
                    "now": T0,
                    "exclude_lot_id": 0,
                },
            ).all()
        finally:
            driver.set_progress_handler(None, 1)
        assert [used for _lot, used in taken] == [5]  # from the first lot alone
        raise _Rollback
    return steps[0]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # SQLite's own work counted
def test_an_allocation_reads_the_lots_it_takes_from_not_every_spendable_one(
    world: World,
) -> None:
    """Taking 5 points from an account whose first lot holds them costs SQLite as many
    instructions with 60 spendable lots as with 3: the lots are walked in spending order
    only while more points are needed. A running sum over every spendable lot (the
    window before issue 20's session 14) grew with the account's history: about 20
    times the work for 20 times the lots."""
    _brand, program = world.program()
    few, many = world.customer(), world.customer()
    for customer, lots in ((few, 3), (many, 60)):
        with unit_of_work(world.engine) as s:
            for n in range(lots):
                adjust(
                    s,
                    program_id=program,
                    customer_id=customer,
                    points=10,
                    request_key=f"lot-{customer}-{n}",
                    reason="x",
                    now=T0 - timedelta(days=lots - n),
                )
    steps_few = _allocation_steps(world, program, few)
    steps_many = _allocation_steps(world, program, many)
    assert steps_many < steps_few * 1.5, (steps_few, steps_many)
