"""The lots' and events' foreign keys (migration 0041 folded five single keys into three
composite ones): on both backends the database still refuses every row the single keys
refused, and now also a lot or an event whose account is not its movement's, and an
event whose program is not its account's."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from recompra.loyalty import earn_order

from .conftest import World
from .test_server_side import NOW

#: An id no row has (the tests' databases hold a few hundred rows per table).
MISSING = 10**12


@dataclass
class Ledger:
    """Two accounts of one program, each with an earn, and a third of another program."""

    program: int
    other_program: int
    account: int
    other_account: int
    movement: int
    other_movement: int
    lot: int
    event: int


def _earn(engine: Engine, world: World, brand: int, program: int) -> tuple[int, int, int, int]:
    """An earn of a new customer: its account, movement, lot and event."""
    customer = world.customer()
    earn_order(engine, program_id=program, order_id=world.order(brand, customer), now=NOW)
    with engine.connect() as conn:
        account, movement, lot = conn.execute(
            text(
                "SELECT a.id, m.id, l.id FROM loyalty_accounts a"
                " JOIN loyalty_movements m ON m.account_id = a.id"
                " JOIN loyalty_lots l ON l.movement_id = m.id"
                " WHERE a.program_id = :p AND a.customer_id = :c"
            ),
            {"p": program, "c": customer},
        ).one()
        event = conn.execute(
            text("SELECT id FROM loyalty_events WHERE movement_id = :m"), {"m": movement}
        ).scalar_one()
    return account, movement, lot, event


def _ledger(engine: Engine) -> Ledger:
    world = World(engine)
    brand, program = world.program()
    other_brand, other_program = world.program()
    account, movement, lot, event = _earn(engine, world, brand, program)
    other_account, other_movement, _, _ = _earn(engine, world, brand, program)
    _earn(engine, world, other_brand, other_program)
    return Ledger(
        program, other_program, account, other_account, movement, other_movement, lot, event
    )


def _accepted(engine: Engine, statements: list[str], params: dict[str, object]) -> bool:
    """Whether the database accepts the statements, in one transaction rolled back."""
    with engine.connect() as conn:
        try:
            for sql in statements:
                conn.execute(text(sql), {k: v for k, v in params.items() if f":{k}" in sql})
        except IntegrityError:
            return False
        finally:
            conn.rollback()
    return True


def _set(engine: Engine, table: str, row: int, **values: object) -> bool:
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    return _accepted(
        engine, [f"UPDATE {table} SET {assignments} WHERE id = :row"], {"row": row, **values}
    )


def test_a_lot_needs_its_account_and_movement(engine: Engine) -> None:
    ledger = _ledger(engine)
    # Refused by the single keys before, by the composite one now.
    assert not _set(engine, "loyalty_lots", ledger.lot, account_id=MISSING)
    assert not _set(engine, "loyalty_lots", ledger.lot, movement_id=MISSING)
    # Both changed together to another account's own movement: still consistent.
    assert _set(
        engine,
        "loyalty_lots",
        ledger.lot,
        account_id=ledger.other_account,
        movement_id=ledger.other_movement,
    )


def test_a_lot_belongs_to_its_movements_account(engine: Engine) -> None:
    """New with 0041: the single keys admitted an existing account that is not the
    movement's (fails on the base)."""
    ledger = _ledger(engine)
    assert not _set(engine, "loyalty_lots", ledger.lot, account_id=ledger.other_account)
    assert not _set(engine, "loyalty_lots", ledger.lot, movement_id=ledger.other_movement)


def test_an_event_needs_its_program_account_and_movement(engine: Engine) -> None:
    ledger = _ledger(engine)
    assert not _set(engine, "loyalty_events", ledger.event, program_id=MISSING)
    assert not _set(engine, "loyalty_events", ledger.event, account_id=MISSING)
    assert not _set(engine, "loyalty_events", ledger.event, movement_id=MISSING)
    # Without a movement (MATCH SIMPLE skips the movement's key) the account is still
    # checked, and an event without a movement is legitimate (tier changes, warnings).
    assert not _set(engine, "loyalty_events", ledger.event, movement_id=None, account_id=MISSING)
    assert _set(engine, "loyalty_events", ledger.event, movement_id=None)
    assert _set(
        engine, "loyalty_events", ledger.event, movement_id=None, account_id=ledger.other_account
    )


def test_an_event_belongs_to_its_accounts_program_and_movement(engine: Engine) -> None:
    """New with 0041 (fails on the base): another existing program, or another account's
    movement, were admitted by the single keys."""
    ledger = _ledger(engine)
    assert not _set(engine, "loyalty_events", ledger.event, program_id=ledger.other_program)
    assert not _set(engine, "loyalty_events", ledger.event, movement_id=ledger.other_movement)
    assert not _set(engine, "loyalty_events", ledger.event, account_id=ledger.other_account)


def test_a_movement_named_by_a_lot_or_an_event_cannot_go(engine: Engine) -> None:
    """The parent's side: the earn's lot and event alone name its movement."""
    ledger = _ledger(engine)
    lot = "DELETE FROM loyalty_lots WHERE id = :lot"
    event = "DELETE FROM loyalty_events WHERE id = :event"
    movement = "DELETE FROM loyalty_movements WHERE id = :movement"
    rows = {"lot": ledger.lot, "event": ledger.event, "movement": ledger.movement}
    assert not _accepted(engine, [lot, movement], rows)
    assert not _accepted(engine, [event, movement], rows)
    assert _accepted(engine, [lot, event, movement], rows)
