"""An earn or a redemption as its own transaction: on PostgreSQL one function call.

For callers whose whole transaction is the write (the benchmark, a job or an endpoint
that writes nothing else): the call runs in autocommit on a pooled connection, without a
unit of work, so it costs its round trips and no more (no ``BEGIN``, no ``COMMIT``, no
ORM ``Session`` transaction). When the function declines (a rare branch: an account to
open or settle, debt, tiers, a pool...), it changed nothing and the Python path runs in a
unit of work, as it does on SQLite. A caller that writes more in the same transaction
calls ``earn_for_order``/``redeem`` in its unit of work instead: they take the same
function, inside that transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from recompra.db import unit_of_work
from recompra.loyalty.ledger import server_side
from recompra.loyalty.ledger.idempotency import check_key
from recompra.loyalty.ledger.results import EarnResult, RedemptionResult
from recompra.loyalty.operations.earn import earn_for_order, earn_in_one_call
from recompra.loyalty.rewards.redemption import redeem, redeem_in_one_call
from recompra.models.base import utcnow


def earn_order(
    engine: Engine, *, program_id: int, order_id: int, now: datetime | None = None
) -> EarnResult:
    """:func:`earn_for_order` as a transaction of its own."""
    now = now or utcnow()
    if server_side.applies_to(engine):
        with server_side.autocommit_session(engine) as session:
            done = earn_in_one_call(session, program_id=program_id, order_id=order_id, now=now)
        if done is not None:
            return done
    with server_side.python_path(), unit_of_work(engine) as session:
        return earn_for_order(session, program_id=program_id, order_id=order_id, now=now)


def redeem_reward(
    engine: Engine,
    *,
    program_id: int,
    customer_id: int,
    reward_code: str,
    request_key: str,
    now: datetime | None = None,
    brand_id: int | None = None,
) -> RedemptionResult:
    """:func:`redeem` as a transaction of its own."""
    check_key(request_key)
    args: dict[str, Any] = {
        "program_id": program_id,
        "customer_id": customer_id,
        "reward_code": reward_code,
        "request_key": request_key,
        "now": now or utcnow(),
        "brand_id": brand_id,
    }
    if server_side.applies_to(engine):
        with server_side.autocommit_session(engine) as session:
            done = redeem_in_one_call(session, **args)
        if done is not None:
            return done
    with server_side.python_path(), unit_of_work(engine) as session:
        return redeem(session, **args)
