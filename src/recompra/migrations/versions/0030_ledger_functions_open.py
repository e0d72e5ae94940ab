"""PostgreSQL: the ledger functions open the customer's account, and post in one statement

Replaces migration 0029's ``recompra_loyalty_earn`` and ``recompra_loyalty_redeem``
(same signatures, ``CREATE OR REPLACE``; the downgrade restores 0029's). Each is 0029's
text, read from that migration's file, with the spans below rewritten (:func:`_rewritten`
checks that each span is found once), so that the checks both share are written once:

- A customer's first earn (no account of their own yet) opens the account in the
  function, with the row the Python path opens (``programs.ensure_account``: zero
  balances, the wall clock's ``created_at``/``updated_at``), instead of answering
  ``python``. Two first earns of one customer at once open one account: the insert is
  ``ON CONFLICT DO NOTHING`` on ``uq_loyalty_accounts_own`` (the second waits for the
  first to commit, then inserts nothing), then the account is locked as before.
- Posting (the balances' ``UPDATE ... RETURNING``, the movement and its event; for an
  earn also its lot) is one statement of chained data-modifying CTEs written once
  (:func:`_post`), as ``postings.POST_CHAINED`` is for the Python path: the two functions
  shared three copies of it, and each PL/pgSQL statement costs the server its executor
  start and end.

``engagement_referrals.referrer_lot_id`` and ``friend_lot_id`` get no index: their
foreign keys are checked on the referrals' side only when a lot is deleted or its id
changes, and lots are append-only (never deleted; their id never changes), and no query
looks referrals up by lot (docs/loyalty.md, "Server-side functions").

Revision ID: 0030_ledger_functions_open
Revises: 0029_ledger_functions
"""

from collections.abc import Sequence

from alembic import op

from recompra.migrations.earlier import earlier_migration

revision: str = "0030_ledger_functions_open"
down_revision: str | Sequence[str] | None = "0029_ledger_functions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_0029 = earlier_migration("0029_ledger_functions.py")

#: The customer's own account opened if missing (the row ``programs.ensure_account``
#: writes), then locked. A concurrent opening of the same account makes the insert wait
#: for it and do nothing (``uq_loyalty_accounts_own``); the lock then finds its row.
_LOCK_OR_OPEN_OWN_ACCOUNT = f"""{_0029._LOCK_OWN_ACCOUNT}
    IF NOT FOUND THEN
        INSERT INTO loyalty_accounts (
            program_id, customer_id, company_account_id, balance, pending, debt,
            created_at, updated_at
        ) VALUES (
            p_program_id, p_customer_id, NULL, 0, 0, 0,
            statement_timestamp(), statement_timestamp()
        ) ON CONFLICT (program_id, customer_id) WHERE company_account_id IS NULL
          DO NOTHING;
        {_0029._LOCK_OWN_ACCOUNT}
    END IF;"""


def _post(
    *,
    kind: str,
    event: str,
    points: str,
    pending: str,
    order_id: str,
    redemption_id: str,
    rule_version_id: str,
    payload: str,
    into: str,
    lot: str = "",
) -> str:
    """One posting as one statement (``postings.post``): the account's balances, the
    movement and its event whose payload is the balances after it, then ``payload``;
    with ``lot`` (the lot's columns after ``account_id, movement_id``) the earn's lot too.
    ``into``: the variables taking the balances, the movement's id (and the lot's)."""
    lot_cte = (
        f"""
    ), lot AS (
        INSERT INTO loyalty_lots (
            account_id, movement_id, source, order_id, state, points, remaining,
            reversed_points, expired_points, forgiven_points, basis_minor, returned_minor,
            earned_at, release_at, released_at, expires_at, expired_at, warned_at
        ) SELECT v_account.id, m.id, {lot} FROM movement m
        RETURNING id"""
        if lot
        else ""
    )
    selected = "a.balance, a.pending, a.debt, m.id" + (", l.id" if lot else "")
    sources = "applied a, movement m" + (", lot l" if lot else "")
    return f"""WITH applied AS (
        UPDATE loyalty_accounts SET
            balance = balance + ({points}), pending = pending + ({pending}), updated_at = p_now
        WHERE id = v_account.id
        RETURNING balance, pending, debt
    ), movement AS (
        INSERT INTO loyalty_movements (
            account_id, customer_id, kind, points, pending_delta, debt_delta, order_id,
            redemption_id, rule_version_id, note, created_at, batch_id
        ) VALUES (
            v_account.id, p_customer_id, '{kind}', {points}, {pending}, 0, {order_id},
            {redemption_id}, {rule_version_id}, NULL, p_now, NULL
        ) RETURNING id
    ), event AS (
        INSERT INTO loyalty_events (
            program_id, account_id, type, movement_id, points, payload, created_at,
            published_at
        ) SELECT
            v_account.program_id, v_account.id, '{event}', m.id, {points},
            jsonb_build_object('balance', a.balance, 'pending', a.pending, 'debt', a.debt)
                || {payload},
            p_now, NULL
        FROM applied a, movement m{lot_cte}
    )
    SELECT {selected} INTO {into} FROM {sources};
    """


def _rewritten(function: str, *changes: tuple[str, str, str]) -> str:
    """0029's ``function`` as ``CREATE OR REPLACE``, each ``(start, end, new)`` of
    ``changes`` replacing the one span of text from ``start`` to ``end`` (included)."""
    text = function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    for start, end, new in changes:
        assert text.count(start) == 1, start
        begin = text.index(start)
        stop = text.index(end, begin) + len(end)
        text = text[:begin] + new + text[stop:]
    return text


#: 0029's earn: an order without a customer declines, the account is opened when missing
#: (the lock's ``IF NOT FOUND ... RETURN`` replaced), and the posting is :func:`_post`.
EARN = _rewritten(
    _0029.EARN,
    (
        f"IF {_0029._IN_A_POOL}",
        "THEN",
        f"IF p_customer_id IS NULL OR {_0029._IN_A_POOL} THEN",
    ),
    (
        _0029._LOCK_OWN_ACCOUNT,
        "the Python path opens the account\n    END IF;",
        _LOCK_OR_OPEN_OWN_ACCOUNT,
    ),
    (
        "UPDATE loyalty_accounts SET",
        "RETURNING id INTO v_lot;",
        _post(
            kind="earn",
            event="points_earned",
            points="v_spendable",
            pending="v_pending",
            order_id="p_order_id",
            redemption_id="NULL",
            rule_version_id="p_rule_version_id",
            payload="p_details",
            into="v_balance, v_pending_now, v_debt, v_movement, v_lot",
            lot=(
                "'order', p_order_id, p_state, p_points, p_points, 0, 0, 0, p_basis_minor, 0, "
                "p_earned_at, p_release_at, CASE WHEN p_state = 'active' THEN p_now END, "
                "p_expires_at, NULL, NULL"
            ),
        ).strip(),
    ),
)

#: 0029's redemption, its posting :func:`_post`.
REDEEM = _rewritten(
    _0029.REDEEM,
    (
        "UPDATE loyalty_accounts SET",
        "p_now, NULL\n    );",
        _post(
            kind="spend",
            event="points_spent",
            points="-v_reward.cost_points",
            pending="0",
            order_id="NULL",
            redemption_id="v_redemption",
            rule_version_id="NULL",
            payload="p_details || jsonb_build_object('redemption_id', v_redemption)",
            into="v_balance, v_pending, v_debt, v_movement",
        ).strip(),
    ),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(EARN)
    op.execute(REDEEM)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_rewritten(_0029.EARN))
    op.execute(_rewritten(_0029.REDEEM))
