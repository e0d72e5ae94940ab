"""PostgreSQL: an earn or a redemption as one call of a server-side function.

Migration ``0030_ledger_functions_open`` installs ``recompra_loyalty_earn`` and
``recompra_loyalty_redeem`` (replacing 0029's: the earn now opens a customer's first
account itself). What only Python knows (the rules' points for the order, the coupon
code) is computed before the call and passed in; what the account lock protects (the
key's stored result, the balance, the lots, the stock) is checked inside the function,
under ``SELECT ... FOR UPDATE``. A case the function does not handle changes nothing and
answers ``python``: the caller runs the Python path (the one path on SQLite and for the
rare branches; docs/loyalty.md, "One call per write on PostgreSQL").

The call runs on the session's connection, in its transaction: inside a caller's unit of
work it joins that transaction (an API write's ``Idempotency-Key`` record stays atomic
with it), and in :func:`autocommit_session` the function is the whole transaction (no
``BEGIN``/``COMMIT`` round trips). Errors that must undo the function's writes come back
as SQLSTATEs of class ``RK`` and are raised here as the Python path's domain errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any, cast

from sqlalchemy import BigInteger, Engine, String, Table, bindparam, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from recompra.db.dialect import is_postgresql
from recompra.errors import Conflict, InsufficientBalance
from recompra.loyalty.errors import RewardUnavailable
from recompra.loyalty.ledger import direct
from recompra.loyalty.ledger.held import give_back, take
from recompra.loyalty.prepared import Prepared, Record, run
from recompra.models.base import JSONType, UTCDateTime
from recompra.models.loyalty import LoyaltyIdempotencyKey

EARN_FUNCTION = "recompra_loyalty_earn"
EARN_ORDER_FUNCTION = "recompra_loyalty_earn_order"
REDEEM_FUNCTION = "recompra_loyalty_redeem"
_JSON = cast(Table, LoyaltyIdempotencyKey.__table__).c.result.type
#: The functions' parameter types: PostgreSQL's (cast to, so that a ``NULL`` or a small
#: integer resolves to the one signature) and the bind type converting the value.
_PARAMETERS: dict[str, tuple[str, Any]] = {
    "key": ("text", None),
    "state": ("text", None),
    "reward_code": ("text", None),
    "coupon": ("text", None),
    "now": ("timestamptz", UTCDateTime()),
    "earned_at": ("timestamptz", UTCDateTime()),
    "release_at": ("timestamptz", UTCDateTime()),
    "expires_at": ("timestamptz", UTCDateTime()),
    "details": ("jsonb", _JSON),
    "result": ("jsonb", _JSON),
}
#: The PostgreSQL type of each returned column's SQLAlchemy type (:mod:`.direct`).
_RETURNED: dict[type, str] = {String: "text", BigInteger: "bigint", type(JSONType): "jsonb"}


class FunctionCall(Prepared):
    """A function's call: a :class:`Prepared` statement for a session's connection, and
    the same call for a held connection's libpq (:mod:`.direct`)."""

    def __init__(self, function: str, params: list[str], returns: dict[str, Any]) -> None:
        types = {name: _PARAMETERS.get(name, ("bigint", None)) for name in params}
        args = ", ".join(f"CAST(:{name} AS {types[name][0]})" for name in params)
        statement = text(f"SELECT * FROM {function}({args})").bindparams(
            *(bindparam(name, type_=type_) for name, (_sql, type_) in types.items() if type_)
        )
        super().__init__(statement.columns(**returns), server_prepared=True)
        self._unbound = direct.statement(
            function,
            [(name, types[name][0]) for name in params],
            [_RETURNED[type(type_)] for type_ in returns.values()],
        )
        self._direct: direct.Statement | None = None

    def direct(self, dialect: Dialect) -> direct.Statement:
        """The call as :class:`~.direct.Direct` sends it (its row type and the text the
        listeners see are the compiled statement's)."""
        found = self._direct
        if found is None:
            compiled = self.for_dialect(dialect)
            assert compiled.row is not None
            found = self._direct = replace(
                self._unbound, listener_sql=compiled.sql, row=compiled.row
            )
        return found


#: One earn (migration 0030's ``recompra_loyalty_earn``; parameters in its order).
EARN_CALL = FunctionCall(
    EARN_FUNCTION,
    [
        "program_id",
        "customer_id",
        "order_id",
        "key",
        "now",
        "points",
        "state",
        "rule_version_id",
        "earned_at",
        "basis_minor",
        "release_at",
        "expires_at",
        "details",
        "result",
    ],
    {"out_status": String(), "out_result": JSONType},
)
#: An order's earn, its points computed in the function for the common rule set
#: (migration 0032's ``recompra_loyalty_earn_order``: it calls ``recompra_loyalty_earn``).
EARN_ORDER_CALL = FunctionCall(
    EARN_ORDER_FUNCTION,
    ["program_id", "order_id", "now"],
    {"out_status": String(), "out_result": JSONType},
)
#: One redemption (``recompra_loyalty_redeem``).
REDEEM_CALL = FunctionCall(
    REDEEM_FUNCTION,
    ["program_id", "customer_id", "reward_code", "key", "coupon", "now", "brand_id", "details"],
    {
        "out_status": String(),
        "out_result": JSONType,
        "out_account_id": BigInteger(),
        "out_reward_id": BigInteger(),
        "out_balance": BigInteger(),
        "out_cost": BigInteger(),
    },
)

_python_only: ContextVar[bool] = ContextVar("recompra_ledger_python_only", default=False)


@contextmanager
def python_path() -> Iterator[None]:
    """Run every earn and redemption meanwhile through the Python path (the fallback of
    :func:`autocommit_session`'s callers, and the differential test's reference)."""
    token = _python_only.set(True)
    try:
        yield
    finally:
        _python_only.reset(token)


def applies(session: Session) -> bool:
    """Whether the session's writes take the server-side functions (PostgreSQL)."""
    return applies_to(session)


def applies_to(bind: Session | Engine) -> bool:
    """:func:`applies` for an engine or a session."""
    return not _python_only.get() and is_postgresql(bind)


@contextmanager
def autocommit_session(engine: Engine) -> Iterator[Session]:
    """A session on a connection in autocommit: each statement (each function call) is
    its own transaction. Only for reads and the functions' calls: a Python-path write
    needs a unit of work (``db.unit_of_work``).

    On PostgreSQL the connection is held open for these calls (:mod:`.held`: no pool
    checkout, isolation change or new session per call); a pooled one when all the held
    ones are busy, and on SQLite."""
    if is_postgresql(engine):
        held = take(engine)
        if held is not None:
            try:
                yield held.session
            finally:
                give_back(held)
            return
    with engine.connect() as conn:
        session = Session(bind=conn.execution_options(isolation_level="AUTOCOMMIT"))
        try:
            yield session
        finally:
            session.close()


def call(
    session: Session,
    prepared: FunctionCall,
    params: dict[str, Any],
    *,
    busy: str,
    field: str | None = None,
) -> Record:
    """Run one function call; its row (``out_status`` first).

    Raises the Python path's errors for the conditions the function found only after
    writing (its writes are undone with its statement): ``Conflict(busy)`` when another
    transaction stored the key first, ``RewardUnavailable`` when the stock ran out,
    ``InsufficientBalance`` when the lots hold less than the cached balance.
    """
    held: direct.Direct | None = session.info.get(direct.SESSION_KEY)
    try:
        if held is not None:
            return held.call(prepared.direct(held.dialect), params)
        return run(session, prepared, params).one()
    except Exception as exc:
        state = getattr(exc, "sqlstate", None)
        if state == "RK409":
            raise Conflict(busy, field=field) from None
        if state == "RK410":
            raise RewardUnavailable(f"reward {params['reward_code']!r} is out of stock") from None
        if state == "RK402":
            raise InsufficientBalance(exc.diag.message_primary) from None  # type: ignore[attr-defined]
        raise
