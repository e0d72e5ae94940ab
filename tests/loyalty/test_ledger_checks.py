"""The ledger's "one of" checks (a movement's kind, a lot's state, a redemption's status):
the database accepts exactly the values the models declare, on both backends. Migration
0040 rewrote them on PostgreSQL as one comparison with an array constant (cheaper to
read at every write); the rule must be the one it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from dbtest import create_test_engine
from recompra.db import unit_of_work
from recompra.loyalty import create_reward, earn_order, redeem_reward
from recompra.models.loyalty import LOT_STATES, MOVEMENT_KINDS

from .conftest import World
from .test_server_side import NOW

#: ``(table, column, the values the models declare)``.
CHECKED = (
    ("loyalty_movements", "kind", MOVEMENT_KINDS),
    ("loyalty_lots", "state", LOT_STATES),
    # Written out in ``models.loyalty.LoyaltyRedemption``'s check alone.
    ("loyalty_redemptions", "status", ("issued", "cancelled")),
)
#: Values no check admits: unknown, another table's, a case or padding away from a known one.
REFUSED = ("bogus", "issued ", "EARN", "")


def _one_row_each(engine: Engine) -> dict[str, int]:
    """An earn and a redemption: a row in each checked table; its id by table."""
    world = World(engine)
    brand, program = world.program()
    customer = world.customer()
    earn_order(engine, program_id=program, order_id=world.order(brand, customer), now=NOW)
    with unit_of_work(engine) as s:
        create_reward(s, program_id=program, code="mug", name="Mug", cost_points=10)
    redeem_reward(
        engine,
        program_id=program,
        customer_id=customer,
        reward_code="mug",
        request_key="k1",
        now=NOW,
    )
    with engine.connect() as conn:
        return {
            table: conn.execute(text(f"SELECT max(id) FROM {table}")).scalar_one()
            for table, _column, _values in CHECKED
        }


def _accepted(engine: Engine, table: str, column: str, row: int, value: str) -> bool:
    """Whether the database lets the row take ``value`` (the change is rolled back)."""
    with engine.connect() as conn:
        try:
            conn.execute(
                text(f"UPDATE {table} SET {column} = :v WHERE id = :id"), {"v": value, "id": row}
            )
        except IntegrityError:
            return False
        finally:
            conn.rollback()
    return True


@pytest.mark.parametrize(("table", "column", "values"), CHECKED)
def test_the_one_of_checks_admit_exactly_the_declared_values(
    engine: Engine, table: str, column: str, values: tuple[str, ...]
) -> None:
    rows = _one_row_each(engine)
    for value in values:
        assert _accepted(engine, table, column, rows[table], value), value
    for value in REFUSED:
        assert not _accepted(engine, table, column, rows[table], value), repr(value)


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated PostgreSQL database for this module."""
    yield from create_test_engine("postgres", tmp_path_factory.mktemp("checks"))


@pytest.mark.postgres
def test_postgresql_stores_them_as_one_array_constant(pg: Engine) -> None:
    """Read at every write: one ``text[]`` constant, not an array of casts (migration 0040)."""
    names = [f"ck_{table}_{column}_known" for table, column, _values in CHECKED]
    with pg.connect() as conn:
        found = dict(
            conn.execute(
                text(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE conname = ANY(:names)"
                ),
                {"names": names},
            ).all()
        )
    assert sorted(found) == sorted(names)
    for (table, _column, values), name in zip(CHECKED, names, strict=True):
        assert "ARRAY[" not in found[name], found[name]
        assert f"'{{{','.join(values)}}}'::text[]" in found[name], (table, found[name])
