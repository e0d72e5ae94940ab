"""PostgreSQL: the ledger's common earn and redemption as one server-side function call each

``recompra_loyalty_earn`` and ``recompra_loyalty_redeem`` (PL/pgSQL) are the hot path's
writes on PostgreSQL (``loyalty/ledger/server_side.py`` calls them; docs/loyalty.md, "One
call per write on PostgreSQL"). Each locks the account (``SELECT ... FOR UPDATE``), looks
the idempotency key up, checks what the lock protects, and writes exactly the rows the
Python path writes: balances, movement, event, lot or allocations, redemption, stock,
the key with its result. A case the function does not handle (an account to open or to
settle, debt to repay, a pooled account, a reward with a limit or a tier, a refusal whose
message needs the Python path) changes nothing and returns ``status = 'python'``: the
caller runs the Python path, the one path on SQLite. Every statement in a PL/pgSQL
function takes a fresh snapshot (read committed), so the key lookup after the lock sees
what the lock's previous holder committed, as the Python path's separate statement does.

Errors that must undo writes already made raise a SQLSTATE of class ``RK`` (the caller
maps it to the domain error): ``RK409`` the key was stored by another transaction,
``RK410`` the reward's stock ran out, ``RK402`` the lots hold less than the balance says.
SQLite has no server-side functions: nothing to do there.

Revision ID: 0029_ledger_functions
Revises: 0028_journeys_statistics
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029_ledger_functions"
down_revision: str | Sequence[str] | None = "0028_journeys_statistics"
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


def _store_key(scope: str) -> str:
    """Store the key with ``out_result`` last; another transaction's key undoes it all."""
    return f"""INSERT INTO loyalty_idempotency_keys (program_id, scope, key, result, created_at)
    VALUES (p_program_id, '{scope}', p_key, out_result, p_now)
    ON CONFLICT (program_id, scope, key) DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'idempotency key stored concurrently' USING ERRCODE = 'RK409';
    END IF;"""


EARN = f"""
CREATE FUNCTION recompra_loyalty_earn(
    p_program_id bigint, p_customer_id bigint, p_order_id bigint, p_key text,
    p_now timestamptz, p_points bigint, p_state text, p_rule_version_id bigint,
    p_earned_at timestamptz, p_basis_minor bigint, p_release_at timestamptz,
    p_expires_at timestamptz, p_details jsonb, p_result jsonb,
    OUT out_status text, OUT out_result jsonb
) LANGUAGE plpgsql AS $fn$
DECLARE
    v_account loyalty_accounts%ROWTYPE;
    v_pending bigint := CASE WHEN p_state = 'pending' THEN p_points ELSE 0 END;
    v_spendable bigint := CASE WHEN p_state = 'pending' THEN 0 ELSE p_points END;
    v_balance bigint;
    v_pending_now bigint;
    v_debt bigint;
    v_movement bigint;
    v_lot bigint;
BEGIN
    out_status := 'python';
    IF {_IN_A_POOL} THEN
        RETURN;
    END IF;
    {_LOCK_OWN_ACCOUNT}
    IF NOT FOUND THEN
        RETURN;  -- the Python path opens the account
    END IF;
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
        UPDATE loyalty_accounts SET
            balance = balance + v_spendable, pending = pending + v_pending,
            debt = debt, updated_at = p_now
        WHERE id = v_account.id
        RETURNING balance, pending, debt INTO v_balance, v_pending_now, v_debt;
        INSERT INTO loyalty_movements (
            account_id, customer_id, kind, points, pending_delta, debt_delta, order_id,
            redemption_id, rule_version_id, note, created_at, batch_id
        ) VALUES (
            v_account.id, p_customer_id, 'earn', v_spendable, v_pending, 0, p_order_id,
            NULL, p_rule_version_id, NULL, p_now, NULL
        ) RETURNING id INTO v_movement;
        INSERT INTO loyalty_events (
            program_id, account_id, type, movement_id, points, payload, created_at,
            published_at
        ) VALUES (
            v_account.program_id, v_account.id, 'points_earned', v_movement, v_spendable,
            jsonb_build_object('balance', v_balance, 'pending', v_pending_now,
                               'debt', v_debt) || p_details,
            p_now, NULL
        );
        INSERT INTO loyalty_lots (
            account_id, movement_id, source, order_id, state, points, remaining,
            reversed_points, expired_points, forgiven_points, basis_minor, returned_minor,
            earned_at, release_at, released_at, expires_at, expired_at, warned_at
        ) VALUES (
            v_account.id, v_movement, 'order', p_order_id, p_state, p_points, p_points,
            0, 0, 0, p_basis_minor, 0,
            p_earned_at, p_release_at,
            CASE WHEN p_state = 'active' THEN p_now END, p_expires_at, NULL, NULL
        ) RETURNING id INTO v_lot;
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
CREATE FUNCTION recompra_loyalty_redeem(
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
        RETURN;
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
    UPDATE loyalty_accounts SET
        balance = balance - v_reward.cost_points, pending = pending, debt = debt,
        updated_at = p_now
    WHERE id = v_account.id
    RETURNING balance, pending, debt INTO v_balance, v_pending, v_debt;
    INSERT INTO loyalty_movements (
        account_id, customer_id, kind, points, pending_delta, debt_delta, order_id,
        redemption_id, rule_version_id, note, created_at, batch_id
    ) VALUES (
        v_account.id, p_customer_id, 'spend', -v_reward.cost_points, 0, 0, NULL,
        v_redemption, NULL, NULL, p_now, NULL
    ) RETURNING id INTO v_movement;
    INSERT INTO loyalty_events (
        program_id, account_id, type, movement_id, points, payload, created_at, published_at
    ) VALUES (
        v_account.program_id, v_account.id, 'points_spent', v_movement, -v_reward.cost_points,
        jsonb_build_object('balance', v_balance, 'pending', v_pending, 'debt', v_debt)
            || p_details || jsonb_build_object('redemption_id', v_redemption),
        p_now, NULL
    );
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


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(EARN)
    op.execute(REDEEM)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS recompra_loyalty_redeem")
    op.execute("DROP FUNCTION IF EXISTS recompra_loyalty_earn")
