"""PostgreSQL: the ledger functions' calls on a held connection go through libpq
(``ledger.direct``), not psycopg's cursor, with the same parameters, rows, errors and
listeners."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event, text

from dbtest import create_test_engine
from recompra.db import make_engine, unit_of_work
from recompra.loyalty import create_reward, earn_order, redeem_reward
from recompra.loyalty.ledger import direct, held
from recompra.loyalty.ledger.server_side import EARN_ORDER_FUNCTION, REDEEM_FUNCTION

from .conftest import T0, World

pytestmark = pytest.mark.postgres
#: A day after the orders' purchase (conftest): their points are active at once.
NOW = T0 + timedelta(days=1)


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Engine]:
    """A fresh migrated PostgreSQL database."""
    yield from create_test_engine("postgres", tmp_path, pool_size=1)


def test_the_libpq_status_codes_are_psycopgs() -> None:
    # The module compares libpq's codes without importing psycopg; they are libpq's ABI.
    assert direct._COMMAND_OK == psycopg.pq.ExecStatus.COMMAND_OK
    assert direct._TUPLES_OK == psycopg.pq.ExecStatus.TUPLES_OK
    assert direct._FATAL_ERROR == psycopg.pq.ExecStatus.FATAL_ERROR
    assert held._PQTRANS_IDLE == psycopg.pq.TransactionStatus.IDLE


def test_held_calls_bypass_the_cursor_and_the_listeners_see_them(
    pg: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(pg)
    brand, program = world.program()
    customer = world.customer()
    earn_order(pg, program_id=program, order_id=world.order(brand, customer), now=NOW)  # opens
    with unit_of_work(pg) as s:
        create_reward(s, program_id=program, code="mug", name="Mug", cost_points=10)
    order = world.order(brand, customer)
    through_cursor: list[str] = []
    seen: list[str] = []
    real_execute = psycopg.Cursor.execute

    def counting(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        through_cursor.append(str(query))
        return real_execute(self, query, *args, **kwargs)

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    event.listen(pg, "before_cursor_execute", record)
    try:
        earned = earn_order(pg, program_id=program, order_id=order, now=NOW)
        redeemed = redeem_reward(
            pg,
            program_id=program,
            customer_id=customer,
            reward_code="mug",
            request_key="k1",
            now=NOW,
        )
    finally:
        event.remove(pg, "before_cursor_execute", record)
    assert through_cursor == []
    assert len(seen) == 2
    assert EARN_ORDER_FUNCTION in seen[0]
    assert REDEEM_FUNCTION in seen[1]
    # 1 point per unit of the default 100.00 order (conftest's BASE_RULES), then 10 spent.
    assert (earned.points, earned.state, earned.duplicate) == (100, "active", False)
    assert (redeemed.points, redeemed.status, redeemed.duplicate) == (10, "issued", False)


def test_a_timestamp_in_another_zone_is_stored_as_the_same_instant(pg: Engine) -> None:
    world = World(pg)
    brand, program = world.program()
    customer = world.customer()
    earn_order(pg, program_id=program, order_id=world.order(brand, customer), now=NOW)
    # As a clock three hours behind UTC reads it, microseconds kept.
    at = (NOW + timedelta(microseconds=123457)).astimezone(timezone(timedelta(hours=-3)))
    result = earn_order(pg, program_id=program, order_id=world.order(brand, customer), now=at)
    with pg.connect() as conn:
        stored = conn.execute(
            text("SELECT created_at FROM loyalty_movements WHERE id = :id"),
            {"id": result.movement_id},
        ).scalar_one()
    assert result.state == "active"
    assert stored == datetime(2025, 1, 2, 0, 0, 0, 123457, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        earn_order(
            pg,
            program_id=program,
            order_id=world.order(brand, customer),
            now=at.replace(tzinfo=None),
        )


def test_an_error_keeps_its_sqlstate_and_the_connection_stays_in_use(pg: Engine) -> None:
    divide = direct.Statement(
        name=b"test_direct_divide",
        sql=b"SELECT 7 / CAST($1 AS bigint), CAST($2 AS text)",
        params=(("by", direct.ENCODERS["bigint"]), ("note", direct.ENCODERS["text"])),
        columns=(direct.DECODERS["bigint"], direct.DECODERS["text"]),
        row=lambda *values: values,
    )
    taken = held.take(pg)
    assert taken is not None
    try:
        backend = taken.driver.info.backend_pid
        with pytest.raises(psycopg.errors.DivisionByZero):
            taken.direct.call(divide, {"by": 0, "note": "x"})
        assert taken.direct.call(divide, {"by": 2, "note": "ção"}) == (3, "ção")
        assert taken.direct.call(divide, {"by": 7, "note": None}) == (1, None)
    finally:
        held.give_back(taken)
    again = held.take(pg)
    assert again is not None
    try:
        assert again.driver.info.backend_pid == backend  # kept: idle after the error
    finally:
        held.give_back(again)


def test_a_connection_opened_in_another_encoding_is_switched_to_utf8(pg: Engine) -> None:
    # The encoders write UTF-8 and the decoders read it: a server whose clients default to
    # another encoding (here asked by the connection itself) would otherwise store
    # "ção" as mojibake or refuse it.
    url = pg.url.update_query_dict({"client_encoding": "LATIN1"})
    latin = make_engine(url.render_as_string(hide_password=False), pool_size=1)
    echo = direct.Statement(
        name=b"test_direct_echo",
        sql=b"SELECT CAST($1 AS text), CAST(length(CAST($1 AS text)) AS bigint)",
        params=(("note", direct.ENCODERS["text"]),),
        columns=(direct.DECODERS["text"], direct.DECODERS["bigint"]),
        row=lambda *values: values,
    )
    try:
        with latin.connect() as conn:
            assert conn.exec_driver_sql("SHOW client_encoding").scalar_one() == "LATIN1"
        taken = held.take(latin)
        assert taken is not None
        try:
            # Three characters, read back as written.
            assert taken.direct.call(echo, {"note": "ção"}) == ("ção", 3)
            assert taken.driver.info.encoding == "utf-8"
        finally:
            held.give_back(taken)
    finally:
        latin.dispose()
