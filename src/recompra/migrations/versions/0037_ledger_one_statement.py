"""PostgreSQL: the ledger functions post and store the key in one statement

Replaces migration 0030's ``recompra_loyalty_earn`` and ``recompra_loyalty_redeem``
(same signatures, ``CREATE OR REPLACE``; the downgrade restores 0030's). Each is 0030's
text with the spans below rewritten (``_0030._rewritten`` checks each span is found once):
the checks before the writes are unchanged.

Each PL/pgSQL statement costs the server its own executor start and end, snapshot and
trigger-queue pass, and the server's CPU is most of an op's (issue 19). The ids a
posting names are drawn first (``nextval``, a plain expression, no statement), so the
idempotency key's result, which names them, is known before any write, and:

- an earn with points writes its balances, movement, event, lot and key in one statement
  (two before: the posting, then the key);
- a redemption writes its redemption (already naming its movement), balances, movement,
  event, allocations, lots' remainders and key in one statement (five before: the
  redemption, the posting, the allocations, the redemption's ``movement_id`` update, the
  key). The redemption row is inserted once, complete: no second version of it.

Nothing else changes. Foreign keys are checked at the end of the statement, when every
row of it exists (the movement named by the redemption and the event is inserted in the
same statement). A coupon already taken (``ON CONFLICT DO NOTHING`` on the redemption)
writes nothing: every other write of the statement reads the redemption's ``RETURNING``.
A key stored concurrently (RK409), lots holding less than the cost (RK402) and stock run
out (RK410) still raise after the statement, undoing it. A coupon taken still writes
nothing, but its drawn ids are skipped (sequences have gaps anyway: a rollback skips them).

Revision ID: 0037_ledger_one_statement
Revises: 0036_drop_automation_contacts
"""

from collections.abc import Sequence

from alembic import op

from recompra.migrations.earlier import earlier_migration

revision: str = "0037_ledger_one_statement"
down_revision: str | Sequence[str] | None = "0036_drop_automation_contacts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_0030 = earlier_migration("0030_ledger_functions_open.py")

_RK409 = """IF NOT v_stored THEN
        RAISE EXCEPTION 'idempotency key stored concurrently' USING ERRCODE = 'RK409';
    END IF;"""


def _key(scope: str, *, source: str = "") -> str:
    """The key stored with ``out_result`` (``ON CONFLICT DO NOTHING``: a key stored by
    another transaction inserts nothing, and the caller raises RK409); with ``source``
    (a CTE's name) only when that CTE returned a row."""
    values = f"p_program_id, '{scope}', p_key, out_result, p_now"
    rows = f"SELECT {values} FROM {source}" if source else f"VALUES ({values})"
    return f"""INSERT INTO loyalty_idempotency_keys (program_id, scope, key, result, created_at)
        {rows}
        ON CONFLICT (program_id, scope, key) DO NOTHING"""


def _posting(
    *,
    kind: str,
    event: str,
    points: str,
    pending: str,
    order_id: str,
    redemption_id: str,
    rule_version_id: str,
    payload: str,
    source: str,
) -> str:
    """The CTEs of one posting (``postings.post``): the balances, the movement (its id
    ``v_movement``, drawn) and its event whose payload is the balances after it, then
    ``payload``; with ``source`` (a CTE's name), each only when it returned a row."""
    only_if = f" AND EXISTS (SELECT FROM {source})" if source else ""
    rows = f"\n        FROM {source}" if source else ""
    return f"""applied AS (
        UPDATE loyalty_accounts SET
            balance = balance + ({points}), pending = pending + ({pending}), updated_at = p_now
        WHERE id = v_account.id{only_if}
        RETURNING balance, pending, debt
    ), movement AS (
        INSERT INTO loyalty_movements (
            id, account_id, customer_id, kind, points, pending_delta, debt_delta, order_id,
            redemption_id, rule_version_id, note, created_at, batch_id
        ) SELECT
            v_movement, v_account.id, p_customer_id, '{kind}', {points}, {pending}, 0,
            {order_id}, {redemption_id}, {rule_version_id}, NULL, p_now, NULL{rows}
    ), event AS (
        INSERT INTO loyalty_events (
            program_id, account_id, type, movement_id, points, payload, created_at,
            published_at
        ) SELECT
            v_account.program_id, v_account.id, '{event}', v_movement, {points},
            jsonb_build_object('balance', a.balance, 'pending', a.pending, 'debt', a.debt)
                || {payload},
            p_now, NULL
        FROM applied a
    )"""


#: An earn with points: ids drawn, result known, then balances, movement, event, lot and
#: key in one statement. Without points only the key, as before.
_EARN_WRITES = f"""IF p_points > 0 THEN
        v_movement := nextval('loyalty_movements_id_seq');
        v_lot := nextval('loyalty_lots_id_seq');
        out_result := p_result || jsonb_build_object(
            'account_id', v_account.id, 'lot_id', v_lot, 'movement_id', v_movement);
        WITH {
    _posting(
        kind="earn",
        event="points_earned",
        points="v_spendable",
        pending="v_pending",
        order_id="p_order_id",
        redemption_id="NULL",
        rule_version_id="p_rule_version_id",
        payload="p_details",
        source="",
    )
}, lot AS (
        INSERT INTO loyalty_lots (
            id, account_id, movement_id, source, order_id, state, points, remaining,
            reversed_points, expired_points, forgiven_points, basis_minor, returned_minor,
            earned_at, release_at, released_at, expires_at, expired_at, warned_at
        ) VALUES (
            v_lot, v_account.id, v_movement, 'order', p_order_id, p_state, p_points,
            p_points, 0, 0, 0, p_basis_minor, 0, p_earned_at, p_release_at,
            CASE WHEN p_state = 'active' THEN p_now END, p_expires_at, NULL, NULL
        )
    ), stored AS (
        {_key("earn")}
        RETURNING 1
    )
    SELECT EXISTS (SELECT FROM stored) INTO v_stored;
    ELSE
        out_result := p_result || jsonb_build_object('account_id', v_account.id);
        {_key("earn")};
        v_stored := FOUND;
    END IF;
    {_RK409}"""

#: A redemption: ids drawn, result known, then every write but the stock's in one
#: statement, each reading the redemption's insert (none when the coupon is taken).
#: Allocations: first to expire first, only as many lots as the cost needs
#: (``postings.take_from_lots``), as in 0029.
_REDEEM_WRITES = f"""v_redemption := nextval('loyalty_redemptions_id_seq');
    v_movement := nextval('loyalty_movements_id_seq');
    out_result := jsonb_build_object(
        'account_id', v_account.id, 'redemption_id', v_redemption, 'reward_id', v_reward.id,
        'points', v_reward.cost_points, 'coupon_code', p_coupon, 'status', 'issued');
    WITH redemption AS (
        INSERT INTO loyalty_redemptions (
            id, account_id, reward_id, brand_id, points, coupon_code, status, request_key,
            movement_id, cancel_movement_id, created_at, cancelled_at
        ) VALUES (
            v_redemption, v_account.id, v_reward.id, p_brand_id, v_reward.cost_points,
            p_coupon, 'issued', p_key, v_movement, NULL, p_now, NULL
        ) ON CONFLICT (coupon_code) DO NOTHING
        RETURNING id
    ), {
    _posting(
        kind="spend",
        event="points_spent",
        points="-v_reward.cost_points",
        pending="0",
        order_id="NULL",
        redemption_id="v_redemption",
        rule_version_id="NULL",
        payload="p_details || jsonb_build_object('redemption_id', v_redemption)",
        source="redemption",
    )
}, spendable AS (
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
        WHERE s.upto - s.remaining < v_reward.cost_points AND EXISTS (SELECT FROM redemption)
        ORDER BY s.expires_at, s.id
        RETURNING lot_id, points
    ), lots AS (
        UPDATE loyalty_lots l SET remaining = l.remaining - t.points
        FROM taken t WHERE l.id = t.lot_id
    ), stored AS (
        {_key("redeem", source="redemption")}
        RETURNING 1
    )
    SELECT EXISTS (SELECT FROM redemption), EXISTS (SELECT FROM stored),
           (SELECT coalesce(sum(t.points), 0) FROM taken t)
    INTO v_issued, v_stored, v_taken;
    IF NOT v_issued THEN
        out_status := 'coupon_taken';  -- nothing written: the caller draws another
        out_result := NULL;
        RETURN;
    END IF;
    IF v_taken <> v_reward.cost_points THEN
        RAISE EXCEPTION 'lots hold % of the % points needed', v_taken, v_reward.cost_points
            USING ERRCODE = 'RK402';
    END IF;
    {_RK409}"""

#: 0030's earn: its writes are :data:`_EARN_WRITES`.
EARN = _0030._rewritten(
    _0030.EARN,
    ("    v_lot bigint;", "\n", "    v_lot bigint;\n    v_stored boolean;\n"),
    (
        "out_result := p_result;\n    IF p_points > 0 THEN",
        "USING ERRCODE = 'RK409';\n    END IF;",
        _EARN_WRITES,
    ),
)

#: 0030's redemption: its key's insert dropped (written in :data:`_REDEEM_WRITES`), its
#: writes up to the stock's are :data:`_REDEEM_WRITES`.
REDEEM = _0030._rewritten(
    _0030.REDEEM,
    (
        "    v_taken bigint;",
        "\n",
        "    v_taken bigint;\n    v_issued boolean;\n    v_stored boolean;\n",
    ),
    (
        "out_result := jsonb_build_object(\n        'account_id', v_account.id,",
        "USING ERRCODE = 'RK409';\n    END IF;\n    ",
        "",
    ),
    (
        "INSERT INTO loyalty_redemptions (",
        "SET movement_id = v_movement WHERE id = v_redemption;",
        _REDEEM_WRITES,
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
    op.execute(_0030.EARN)
    op.execute(_0030.REDEEM)
