"""PostgreSQL: the ledger functions open the customer's account, and post in one statement

Replaces migration 0029's ``recompra_loyalty_earn`` and ``recompra_loyalty_redeem``
(same signatures, ``CREATE OR REPLACE``; the downgrade restores 0029's):

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

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0030_ledger_functions_open"
down_revision: str | Sequence[str] | None = "0029_ledger_functions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Whether the customer buys for a company pool at one of the program's brands (then the
#: pool holds their points: ``programs.holder_condition``; the Python path handles it).
_IN_A_POOL = """
    EXISTS (
        SELECT 1 FROM company_account_members m
        WHERE m.customer_id = p_customer_id
          AND m.brand_id IN (
              SELECT brand_id FROM loyalty_programs WHERE id = p_program_id
              UNION ALL
              SELECT brand_id FROM loyalty_coalition_members WHERE program_id = p_program_id
          )
    )"""
#: Lots the account must settle first (``postings.has_due_lots``).
_HAS_DUE_LOTS = """
    EXISTS (
        SELECT 1 FROM loyalty_lots l
        WHERE l.account_id = v_account.id
          AND ((l.state = 'pending' AND l.release_at <= p_now)
               OR (l.state = 'active' AND l.expires_at <= p_now))
    )"""

#: The customer's own account, locked (a pooled one takes the Python path).
_LOCK_OWN_ACCOUNT = """SELECT * INTO v_account FROM loyalty_accounts a
    WHERE a.program_id = p_program_id AND a.customer_id = p_customer_id
      AND a.company_account_id IS NULL
    FOR UPDATE;"""

#: The customer's own account opened if missing (the row ``programs.ensure_account``
#: writes), then locked. A concurrent opening of the same account makes the insert wait
#: for it and do nothing (``uq_loyalty_accounts_own``); the lock then finds its row.
_LOCK_OR_OPEN_OWN_ACCOUNT = f"""{_LOCK_OWN_ACCOUNT}
    IF NOT FOUND THEN
        INSERT INTO loyalty_accounts (
            program_id, customer_id, company_account_id, balance, pending, debt,
            created_at, updated_at
        ) VALUES (
            p_program_id, p_customer_id, NULL, 0, 0, 0,
            clock_timestamp(), clock_timestamp()
        ) ON CONFLICT (program_id, customer_id) WHERE company_account_id IS NULL
          DO NOTHING;
        {_LOCK_OWN_ACCOUNT}
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
    lot: str = "",
) -> str:
    """One posting as one statement (``postings.post``): the account's balances, the
    movement and its event whose payload is the balances after it, then ``payload``;
    with ``lot`` (the lot's columns after ``account_id, movement_id``) the earn's lot too.
    Sets ``v_balance, v_pending, v_debt, v_movement`` (and ``v_lot``)."""
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
    into = "a.balance, a.pending, a.debt, m.id" + (", l.id" if lot else "")
    targets = "v_balance, v_pending, v_debt, v_movement" + (", v_lot" if lot else "")
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
    SELECT {into} INTO {targets} FROM {sources};"""


def _store_key(scope: str) -> str:
    """Store the key with ``out_result`` last; another transaction's key undoes it all."""
    return f"""INSERT INTO loyalty_idempotency_keys (program_id, scope, key, result, created_at)
    VALUES (p_program_id, '{scope}', p_key, out_result, p_now)
    ON CONFLICT (program_id, scope, key) DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'idempotency key stored concurrently' USING ERRCODE = 'RK409';
    END IF;"""


EARN = f"""
CREATE OR REPLACE FUNCTION recompra_loyalty_earn(
    p_program_id bigint, p_customer_id bigint, p_order_id bigint, p_key text,
    p_now timestamptz, p_points bigint, p_state text, p_rule_version_id bigint,
    p_earned_at timestamptz, p_basis_minor bigint, p_release_at timestamptz,
    p_expires_at timestamptz, p_details jsonb, p_result jsonb,
    OUT out_status text, OUT out_result jsonb
) LANGUAGE plpgsql AS $fn$
DECLARE
    v_account loyalty_accounts%ROWTYPE;
    v_pending_delta bigint := CASE WHEN p_state = 'pending' THEN p_points ELSE 0 END;
    v_spendable bigint := CASE WHEN p_state = 'pending' THEN 0 ELSE p_points END;
    v_balance bigint;
    v_pending bigint;
    v_debt bigint;
    v_movement bigint;
    v_lot bigint;
BEGIN
    out_status := 'python';
    IF p_customer_id IS NULL OR {_IN_A_POOL} THEN
        RETURN;
    END IF;
    {_LOCK_OR_OPEN_OWN_ACCOUNT}
    SELECT k.result INTO out_result FROM loyalty_idempotency_keys k
    WHERE k.program_id = p_program_id AND k.scope = 'earn' AND k.key = p_key;
    IF FOUND THEN
        out_status := 'stored';
        RETURN;
    END IF;
    -- Debt to repay from the new points, lots to settle: the Python path.
    IF v_account.debt > 0 OR {_HAS_DUE_LOTS} THEN
        RETURN;
    END IF;
    out_result := p_result;
    IF p_points > 0 THEN
        {
    _post(
        kind="earn",
        event="points_earned",
        points="v_spendable",
        pending="v_pending_delta",
        order_id="p_order_id",
        redemption_id="NULL",
        rule_version_id="p_rule_version_id",
        payload="p_details",
        lot=(
            "'order', p_order_id, p_state, p_points, p_points, 0, 0, 0, p_basis_minor, 0, "
            "p_earned_at, p_release_at, CASE WHEN p_state = 'active' THEN p_now END, "
            "p_expires_at, NULL, NULL"
        ),
    )
}
        out_result := out_result || jsonb_build_object(
            'account_id', v_account.id, 'lot_id', v_lot, 'movement_id', v_movement);
    ELSE
        out_result := out_result || jsonb_build_object('account_id', v_account.id);
    END IF;
    {_store_key("earn")}
    out_status := 'done';
END
$fn$
"""

REDEEM = f"""
CREATE OR REPLACE FUNCTION recompra_loyalty_redeem(
    p_program_id bigint, p_customer_id bigint, p_reward_code text, p_key text,
    p_coupon text, p_now timestamptz, p_brand_id bigint, p_details jsonb,
    OUT out_status text, OUT out_result jsonb, OUT out_account_id bigint,
    OUT out_reward_id bigint, OUT out_balance bigint, OUT out_cost bigint
) LANGUAGE plpgsql AS $fn$
DECLARE
    v_account loyalty_accounts%ROWTYPE;
    v_reward loyalty_rewards%ROWTYPE;
    v_redemption bigint;
    v_balance bigint;
    v_pending bigint;
    v_debt bigint;
    v_movement bigint;
    v_taken bigint;
BEGIN
    out_status := 'python';
    IF {_IN_A_POOL} THEN
        RETURN;
    END IF;
    {_LOCK_OWN_ACCOUNT}
    IF NOT FOUND THEN
        RETURN;  -- no account: the Python path refuses the redemption
    END IF;
    -- The reward is not locked (its stock decrement below locks it): rewards.redemption.
    SELECT * INTO v_reward FROM loyalty_rewards r
    WHERE r.program_id = p_program_id AND r.code = p_reward_code;
    IF NOT FOUND OR (SELECT status FROM loyalty_programs WHERE id = p_program_id) <> 'active'
    THEN
        RETURN;
    END IF;
    out_account_id := v_account.id;
    out_reward_id := v_reward.id;
    SELECT k.result INTO out_result FROM loyalty_idempotency_keys k
    WHERE k.program_id = p_program_id AND k.scope = 'redeem' AND k.key = p_key;
    IF FOUND THEN
        out_status := 'stored';
        RETURN;
    END IF;
    -- Lots to settle, and every refusal but the balance's: the Python path (it raises).
    IF {_HAS_DUE_LOTS}
       OR NOT v_reward.active
       OR (v_reward.valid_from IS NOT NULL AND p_now < v_reward.valid_from)
       OR (v_reward.valid_until IS NOT NULL AND p_now >= v_reward.valid_until)
       OR (v_reward.stock IS NOT NULL AND v_reward.stock <= 0)
       OR v_reward.per_customer_limit IS NOT NULL
       OR v_reward.min_tier_rank IS NOT NULL
    THEN
        RETURN;
    END IF;
    IF v_account.balance < v_reward.cost_points THEN
        out_status := 'insufficient';
        out_balance := v_account.balance;
        out_cost := v_reward.cost_points;
        RETURN;
    END IF;
    INSERT INTO loyalty_redemptions (
        account_id, reward_id, brand_id, points, coupon_code, status, request_key,
        movement_id, cancel_movement_id, created_at, cancelled_at
    ) VALUES (
        v_account.id, v_reward.id, p_brand_id, v_reward.cost_points, p_coupon, 'issued',
        p_key, NULL, NULL, p_now, NULL
    ) ON CONFLICT (coupon_code) DO NOTHING
    RETURNING id INTO v_redemption;
    IF v_redemption IS NULL THEN
        out_status := 'coupon_taken';  -- nothing written: the caller draws another
        RETURN;
    END IF;
    {
    _post(
        kind="spend",
        event="points_spent",
        points="-v_reward.cost_points",
        pending="0",
        order_id="NULL",
        redemption_id="v_redemption",
        rule_version_id="NULL",
        payload="p_details || jsonb_build_object('redemption_id', v_redemption)",
    )
}
    -- First to expire first, only as many lots as the cost needs (postings.take_from_lots).
    WITH spendable AS (
        SELECT l.id, l.remaining, l.expires_at,
               sum(l.remaining) OVER (ORDER BY l.expires_at, l.id
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto
        FROM loyalty_lots l
        WHERE l.account_id = v_account.id AND l.state = 'active' AND l.remaining > 0
          AND l.expires_at > p_now
    ), taken AS (
        INSERT INTO loyalty_allocations (movement_id, lot_id, debt_id, points)
        SELECT v_movement, s.id, NULL,
               CASE WHEN s.upto <= v_reward.cost_points THEN s.remaining
                    ELSE v_reward.cost_points - (s.upto - s.remaining) END
        FROM spendable s
        WHERE s.upto - s.remaining < v_reward.cost_points
        ORDER BY s.expires_at, s.id
        RETURNING lot_id, points
    ), lots AS (
        UPDATE loyalty_lots l SET remaining = l.remaining - t.points
        FROM taken t WHERE l.id = t.lot_id
    )
    SELECT coalesce(sum(t.points), 0) INTO v_taken FROM taken t;
    IF v_taken <> v_reward.cost_points THEN
        RAISE EXCEPTION 'lots hold % of the % points needed', v_taken, v_reward.cost_points
            USING ERRCODE = 'RK402';
    END IF;
    UPDATE loyalty_redemptions SET movement_id = v_movement WHERE id = v_redemption;
    IF v_reward.stock IS NOT NULL THEN
        UPDATE loyalty_rewards SET stock = stock - 1 WHERE id = v_reward.id AND stock > 0;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'reward out of stock' USING ERRCODE = 'RK410';
        END IF;
    END IF;
    out_result := jsonb_build_object(
        'account_id', v_account.id, 'redemption_id', v_redemption, 'reward_id', v_reward.id,
        'points', v_reward.cost_points, 'coupon_code', p_coupon, 'status', 'issued');
    {_store_key("redeem")}
    out_status := 'done';
END
$fn$
"""


def _previous() -> ModuleType:
    """Migration 0029's module, whose functions the downgrade restores."""
    path = Path(__file__).with_name("0029_ledger_functions.py")
    spec = importlib.util.spec_from_file_location("recompra_migration_0029", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(EARN)
    op.execute(REDEEM)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    previous = _previous()
    for function in (previous.EARN, previous.REDEEM):
        op.execute(function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
