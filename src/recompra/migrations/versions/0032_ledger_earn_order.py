"""PostgreSQL: an order's earn as one call, its points computed in the function

``recompra_loyalty_earn_order(program, order, now)`` reads what the client read before
calling ``recompra_loyalty_earn`` (the program, the order, its lines, the customer's
earlier orders, the rule version in force at the purchase), computes the points for the
common rule set and calls ``recompra_loyalty_earn`` (0030's, unchanged) with the
arguments the client computed: the ledger's checks and writes stay written once. An earn
was three round trips (head, lines, function) and the client's rules engine; it is one.

The points: ``base`` (``points_per_unit`` per ``unit_minor`` of the lines' amounts, net
of their discounts, each at least 0, or of the order's item total net of its discounts
when it has no lines; rounded down once, as ``Calculation.subtotal``) and
``first_order_bonus`` (when no earlier earning order of the customer at the brand). The
lot: ``operations.earn._lot_terms``. Anything else answers ``python`` having changed
nothing, and the caller computes the points in Python as before (``earn_in_one_call``):
another rule type, a second base rule, a number written as a string, a program with
tiers, an archived or missing program, a missing order or one of another brand (or of a
coalition member, which earns at its rate), an order without a customer or in a status
that earns nothing. ``ledger`` is ``recompra_loyalty_earn``'s own ``python`` (a pool, debt,
lots to settle): the caller goes straight to the Python path.

Days are added as 24-hour intervals, as Python's ``timedelta(days=n)`` does (``interval
'n days'`` would follow the session's time zone across a DST change).

Revision ID: 0032_ledger_earn_order
Revises: 0031_ledger_hot_indexes
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032_ledger_earn_order"
down_revision: str | Sequence[str] | None = "0031_ledger_hot_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: ``rules.engine.NON_EARNING_STATUSES``.
_NON_EARNING = "('canceled', 'unavailable')"

EARN_ORDER = f"""
CREATE FUNCTION recompra_loyalty_earn_order(
    p_program_id bigint, p_order_id bigint, p_now timestamptz,
    OUT out_status text, OUT out_result jsonb
) LANGUAGE plpgsql AS $fn$
DECLARE
    v_program loyalty_programs%ROWTYPE;
    v_order orders%ROWTYPE;
    v_version_id bigint;
    v_version integer;
    v_rules jsonb;
    v_rule jsonb;
    v_per_unit numeric;
    v_unit numeric := 100;
    v_bonus numeric := 0;
    v_lines bigint;
    v_amount bigint;
    v_points bigint := 0;
    v_release_at timestamptz;
    v_pending boolean;
    v_expires_at timestamptz;
    v_state text;
BEGIN
    out_status := 'python';
    SELECT * INTO v_program FROM loyalty_programs WHERE id = p_program_id;
    IF NOT FOUND OR v_program.status <> 'active'
       OR EXISTS (SELECT 1 FROM loyalty_tiers t WHERE t.program_id = p_program_id)
    THEN
        RETURN;
    END IF;
    SELECT * INTO v_order FROM orders WHERE id = p_order_id;
    IF NOT FOUND OR v_order.brand_id <> v_program.brand_id OR v_order.customer_id IS NULL
       OR v_order.status IN {_NON_EARNING}
       OR EXISTS (
           SELECT 1 FROM loyalty_coalition_members c
           WHERE c.program_id = p_program_id AND c.brand_id = v_order.brand_id
       )
    THEN
        RETURN;
    END IF;
    -- The version in force at the purchase (rules.versions.rules_in_force).
    SELECT v.id, v.version, v.rules -> 'rules' INTO v_version_id, v_version, v_rules
    FROM loyalty_rule_versions v
    WHERE v.program_id = p_program_id AND v.effective_from <= v_order.purchased_at
    ORDER BY v.effective_from DESC, v.version DESC
    LIMIT 1;
    IF v_rules IS NOT NULL AND jsonb_typeof(v_rules) <> 'array' THEN
        RETURN;
    END IF;
    FOR v_rule IN SELECT jsonb_array_elements(coalesce(v_rules, '[]'::jsonb)) LOOP
        IF v_rule ->> 'type' = 'base' AND v_per_unit IS NULL
           AND jsonb_typeof(v_rule -> 'points_per_unit') = 'number'
           AND coalesce(jsonb_typeof(v_rule -> 'unit_minor'), 'number') = 'number'
        THEN
            v_per_unit := (v_rule ->> 'points_per_unit')::numeric;
            v_unit := coalesce((v_rule ->> 'unit_minor')::numeric, 100);
            IF v_unit <> trunc(v_unit) OR v_unit <= 0 OR v_per_unit <= 0 THEN
                RETURN;
            END IF;
        ELSIF v_rule ->> 'type' = 'first_order_bonus'
              AND jsonb_typeof(v_rule -> 'points') = 'number'
        THEN
            v_bonus := v_bonus + (v_rule ->> 'points')::numeric;
        ELSE
            RETURN;
        END IF;
    END LOOP;
    IF v_bonus <> trunc(v_bonus) OR v_bonus < 0 THEN
        RETURN;
    END IF;
    -- The lines' amounts (rules.engine.snapshot_from).
    SELECT count(*), coalesce(sum(greatest(0, i.quantity * i.unit_price_minor - i.discount_minor)), 0)
    INTO v_lines, v_amount
    FROM order_items i WHERE i.order_id = p_order_id;
    IF v_lines = 0 THEN
        v_amount := greatest(0, v_order.items_total_minor - v_order.discount_total_minor);
    END IF;
    IF v_per_unit IS NOT NULL THEN
        -- div() truncates exactly; the amounts are not negative: the floor.
        v_points := div(v_amount * v_per_unit, v_unit);
    END IF;
    -- rules.engine.previous_orders_count = 0.
    IF v_bonus > 0 AND NOT EXISTS (
        SELECT 1 FROM orders e
        WHERE e.brand_id = v_order.brand_id AND e.customer_id = v_order.customer_id
          AND e.id <> v_order.id AND e.purchased_at < v_order.purchased_at
          AND e.status NOT IN {_NON_EARNING}
    ) THEN
        v_points := v_points + v_bonus;
    END IF;
    -- The lot's terms (operations.earn._lot_terms).
    IF v_program.release_on = 'delivery' THEN
        v_pending := v_order.delivered_at IS NULL;
    ELSE
        v_release_at := v_order.purchased_at
            + v_program.return_window_days * interval '24 hours';
        v_pending := v_release_at > p_now;
    END IF;
    v_state := CASE WHEN v_pending THEN 'pending' ELSE 'active' END;
    IF NOT v_pending THEN
        v_expires_at := CASE WHEN v_release_at IS NOT NULL AND v_release_at <= p_now
                             THEN v_release_at ELSE p_now END
            + v_program.expiry_days * interval '24 hours';
    END IF;
    SELECT e.out_status, e.out_result INTO out_status, out_result
    FROM recompra_loyalty_earn(
        p_program_id, v_order.customer_id, p_order_id, p_order_id::text, p_now, v_points,
        v_state, v_version_id, v_order.purchased_at, v_amount, v_release_at, v_expires_at,
        jsonb_build_object(
            'pending_delta', CASE WHEN v_pending THEN v_points ELSE 0 END,
            'debt_delta', 0, 'order_id', p_order_id, 'state', v_state),
        jsonb_build_object(
            'account_id', 0, 'points', v_points,
            'state', CASE WHEN v_points > 0 THEN v_state ELSE 'none' END,
            'lot_id', NULL, 'movement_id', NULL, 'rule_version', v_version)
    ) e;
    IF out_status = 'python' THEN
        out_status := 'ledger';
    END IF;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(EARN_ORDER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS recompra_loyalty_earn_order")
