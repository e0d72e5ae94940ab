"""Opening an account on first use: one account per holder, whoever opens it first."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from recompra.db import unit_of_work
from recompra.errors import NotFound
from recompra.loyalty import ensure_account
from recompra.models import LoyaltyAccount

from .conftest import World


def test_a_transaction_racing_to_open_the_same_account_gets_the_one_committed(
    world: World,
) -> None:
    """The second opener's insert finds the first one's row (PostgreSQL: it waits for that
    commit, then does nothing; SQLite: it waits for the writer lock) and returns it."""
    _, program = world.program()
    customer = world.customer()
    first = unit_of_work(world.engine)
    session = first.__enter__()
    opened = ensure_account(session, program_id=program, customer_id=customer).id
    found: list[int] = []
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with unit_of_work(world.engine) as other:
                found.append(ensure_account(other, program_id=program, customer_id=customer).id)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    racer = threading.Thread(target=second)
    racer.start()
    time.sleep(0.3)  # the racer is now blocked behind the first transaction
    first.__exit__(None, None, None)
    racer.join(timeout=60)
    assert not errors
    assert found == [opened]
    with unit_of_work(world.engine, write=False) as s:
        count = s.scalar(
            select(func.count())
            .select_from(LoyaltyAccount)
            .where(LoyaltyAccount.program_id == program, LoyaltyAccount.customer_id == customer)
        )
    assert count == 1


def test_opening_an_account_for_an_unknown_customer_is_not_found(world: World) -> None:
    _, program = world.program()
    with unit_of_work(world.engine) as s, pytest.raises(NotFound, match="customer"):
        ensure_account(s, program_id=program, customer_id=2**62)
