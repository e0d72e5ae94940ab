"""PostgreSQL: the ledger functions read what they check in fewer statements

Replaces ``recompra_loyalty_earn_order`` (0032's), ``recompra_loyalty_earn`` and
``recompra_loyalty_redeem`` (0037's): same signatures, ``CREATE OR REPLACE``; the
downgrade restores the earlier texts. Each is the earlier text with the spans below
rewritten (``_0030._rewritten`` checks each span is found once): the same checks, in
the same order, answering the same statuses, and the same writes.

Every SQL statement a PL/pgSQL function runs costs the server an executor start and end
and a cached plan's checks, whatever it reads; on the profile of a backend running the
benchmark's earns and redemptions (issue 19) executor start-up alone was 22 % of the
server's CPU. Reads that do not depend on each other's answer are one statement now:

- the earn of an order: the program with "no tiers" a condition of its statement; the
  version in force read with "the order's brand is a coalition member's"; the earlier
  earning order (the first-order bonus) read with the lines' amounts. The rules are
  walked by index (``v_rules -> i``, a plain expression) rather than a query's rows, and
  ``recompra_loyalty_earn`` is called as a plain expression rather than as a table
  function (no executor, no tuple store). The order itself is still read by its primary
  key alone: with the brand a condition of that statement, a generic plan may take the
  brand's index and read all its orders;
- the earn and the redemption: "not buying for a pool" is a condition of the account's
  lock (not found: the earn checks the pool before opening an account, the redemption
  declines either way, as before), and the idempotency key and "lots due" are read in
  one statement after the lock (both read then, as before: the fresh snapshot sees what
  the lock's last holder committed);
- the redemption: the reward with "the program is active" a condition of its statement.

Statements per op: an earn nine in the order's function and five in the earn's before,
four and three now; a redemption seven with its write, four now. A condition moved
into a ``WHERE`` reads ``NOT NULL`` columns (the program's status), so "not found" is
exactly "missing or refused" as the ``IF`` said. The same checks run in the same order
and answer the same statuses; the writes do not change.

Revision ID: 0040_ledger_fewer_statements
Revises: 0039_idempotency_natural_key
"""

from collections.abc import Sequence

from alembic import op

from recompra.migrations.earlier import earlier_migration

revision: str = "0040_ledger_fewer_statements"
down_revision: str | Sequence[str] | None = "0039_idempotency_natural_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_0029 = earlier_migration("0029_ledger_functions.py")
_0030 = earlier_migration("0030_ledger_functions_open.py")
_0032 = earlier_migration("0032_ledger_earn_order.py")
_0037 = earlier_migration("0037_ledger_one_statement.py")


def _lock_own_account_not_pooled() -> str:
    """0029's lock of the customer's own account, with "not buying for a pool" a
    condition of the same statement (it was a statement of its own before the lock): not
    found is "no own account, or a pooled customer"."""
    lock = _0029._LOCK_OWN_ACCOUNT
    assert lock.count("IS NULL\n") == 1, lock
    return lock.replace("IS NULL\n", f"IS NULL AND NOT {_0029._IN_A_POOL}\n")


def _key_and_due(scope: str) -> str:
    """The key's stored result (``NULL``: none; ``result`` is ``NOT NULL``) and whether
    lots are due, read in one statement after the account's lock."""
    return f"""SELECT (
        SELECT k.result FROM loyalty_idempotency_keys k
        WHERE k.program_id = p_program_id AND k.scope = '{scope}' AND k.key = p_key
    ), {_0029._HAS_DUE_LOTS}
    INTO out_result, v_due;
    IF out_result IS NOT NULL THEN
        out_status := 'stored';
        RETURN;
    END IF;"""


EARN = _0030._rewritten(
    _0037.EARN,
    ("    v_stored boolean;", "\n", "    v_stored boolean;\n    v_due boolean;\n"),
    (
        f"IF p_customer_id IS NULL OR {_0029._IN_A_POOL} THEN",
        "    IF NOT FOUND THEN\n",
        f"""{_lock_own_account_not_pooled()}
    IF NOT FOUND THEN
        -- A pooled customer (or none): the Python path; else the account is opened.
        IF p_customer_id IS NULL OR {_0029._IN_A_POOL} THEN
            RETURN;
        END IF;
""",
    ),
    (
        "SELECT k.result INTO out_result FROM loyalty_idempotency_keys k",
        f"IF v_account.debt > 0 OR {_0029._HAS_DUE_LOTS} THEN",
        f"""{_key_and_due("earn")}
    -- Debt to repay from the new points, lots to settle: the Python path.
    IF v_account.debt > 0 OR v_due THEN""",
    ),
)

REDEEM = _0030._rewritten(
    _0037.REDEEM,
    ("    v_stored boolean;", "\n", "    v_stored boolean;\n    v_due boolean;\n"),
    (f"IF {_0029._IN_A_POOL} THEN", "FOR UPDATE;", _lock_own_account_not_pooled()),
    (
        "SELECT * INTO v_reward FROM loyalty_rewards r",
        "<> 'active'\n    THEN",
        """SELECT * INTO v_reward FROM loyalty_rewards r
    WHERE r.program_id = p_program_id AND r.code = p_reward_code
      AND (SELECT status FROM loyalty_programs WHERE id = p_program_id) = 'active';
    IF NOT FOUND THEN""",
    ),
    (
        "SELECT k.result INTO out_result FROM loyalty_idempotency_keys k",
        f"IF {_0029._HAS_DUE_LOTS}",
        f"""{_key_and_due("redeem")}
    -- Lots to settle, and every refusal but the balance's: the Python path (it raises).
    IF v_due""",
    ),
)

EARN_ORDER = _0030._rewritten(
    _0032.EARN_ORDER,
    (
        "    v_state text;",
        "\n",
        "    v_state text;\n    v_member boolean;\n    v_first boolean;\n    v_at integer;\n    v_earned record;\n",
    ),
    (
        "SELECT * INTO v_program FROM loyalty_programs WHERE id = p_program_id;",
        "    THEN",
        """SELECT * INTO v_program FROM loyalty_programs p
    WHERE p.id = p_program_id AND p.status = 'active'
      AND NOT EXISTS (SELECT 1 FROM loyalty_tiers t WHERE t.program_id = p_program_id);
    IF NOT FOUND THEN""",
    ),
    (
        "       OR EXISTS (\n           SELECT 1 FROM loyalty_coalition_members c",
        "LIMIT 1;",
        """    THEN
        RETURN;
    END IF;
    -- The version in force at the purchase (rules.versions.rules_in_force), and whether
    -- the order's brand is a coalition member's (it earns at its rate: the Python path).
    SELECT v.id, v.version, v.rules -> 'rules', EXISTS (
        SELECT 1 FROM loyalty_coalition_members c
        WHERE c.program_id = p_program_id AND c.brand_id = v_order.brand_id
    )
    INTO v_version_id, v_version, v_rules, v_member
    FROM (SELECT) AS one LEFT JOIN (
        SELECT v.id, v.version, v.rules FROM loyalty_rule_versions v
        WHERE v.program_id = p_program_id AND v.effective_from <= v_order.purchased_at
        ORDER BY v.effective_from DESC, v.version DESC
        LIMIT 1
    ) AS v ON true;
    IF v_member THEN
        RETURN;
    END IF;""",
    ),
    (
        "FOR v_rule IN SELECT jsonb_array_elements",
        "LOOP\n",
        """FOR v_at IN 0 .. coalesce(jsonb_array_length(v_rules), 0) - 1 LOOP
        v_rule := v_rules -> v_at;
""",
    ),
    (
        "SELECT count(*), coalesce(sum(",
        "FROM order_items i WHERE i.order_id = p_order_id;",
        f"""-- With it, whether an earlier order earned at the brand (rules.engine.
    -- previous_orders_count = 0), read only for a first-order bonus.
    SELECT count(*),
           coalesce(sum(greatest(0, i.quantity * i.unit_price_minor - i.discount_minor)), 0),
           v_bonus > 0 AND NOT EXISTS (
               SELECT 1 FROM orders e
               WHERE e.brand_id = v_order.brand_id AND e.customer_id = v_order.customer_id
                 AND e.id <> v_order.id AND e.purchased_at < v_order.purchased_at
                 AND e.status NOT IN {_0032._NON_EARNING}
           )
    INTO v_lines, v_amount, v_first
    FROM order_items i WHERE i.order_id = p_order_id;""",
    ),
    (
        "-- rules.engine.previous_orders_count = 0.",
        ") THEN",
        "IF v_first THEN",
    ),
    (
        "SELECT e.out_status, e.out_result INTO out_status, out_result",
        "    ) e;",
        """v_earned := recompra_loyalty_earn(
        p_program_id, v_order.customer_id, p_order_id, p_order_id::text, p_now, v_points,
        v_state, v_version_id, v_order.purchased_at, v_amount, v_release_at, v_expires_at,
        jsonb_build_object(
            'pending_delta', CASE WHEN v_pending THEN v_points ELSE 0 END,
            'debt_delta', 0, 'order_id', p_order_id, 'state', v_state),
        jsonb_build_object(
            'account_id', 0, 'points', v_points,
            'state', CASE WHEN v_points > 0 THEN v_state ELSE 'none' END,
            'lot_id', NULL, 'movement_id', NULL, 'rule_version', v_version)
    );
    out_status := v_earned.out_status;
    out_result := v_earned.out_result;""",
    ),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(EARN)
    op.execute(REDEEM)
    op.execute(EARN_ORDER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_0037.EARN)
    op.execute(_0037.REDEEM)
    op.execute(_0030._rewritten(_0032.EARN_ORDER))
