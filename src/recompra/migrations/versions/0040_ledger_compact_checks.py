"""PostgreSQL: the ledger's "one of" checks compare with one array constant

``ck_loyalty_movements_kind_known``, ``ck_loyalty_lots_state_known`` and
``ck_loyalty_redemptions_status_known`` were written ``column IN ('a', 'b', ...)`` on a
``varchar`` column, which PostgreSQL stores as an array built of one cast constant per
value (``ARRAY['a'::character varying, ...]::text[]``: 2,109 characters of stored node
text for the movements' eight kinds). PostgreSQL reads a table's CHECK expressions from
their stored text, and folds their constants, at every statement that writes the table,
and every ledger write writes a movement and a lot (issue 19): measured with callgrind,
a one-row ``INSERT`` into a table checked the old way cost 78 K instructions more than
into the same table unchecked, 39 K more with the check below (docs/loyalty.md,
"Checks against one array constant, migration 0040").

The rule does not change: each is now ``column::text = ANY ('{a,b,...}'::text[])``, the
same values compared the same way (the old form cast both sides to ``text`` as well),
one constant to read. The models keep the portable ``IN`` text (SQLite's checks are
untouched; Alembic does not compare check constraints). Each is added ``NOT VALID`` and
then validated: the table is read once to prove its rows obey it, as adding it would.
The downgrade restores the ``IN`` form.

Revision ID: 0040_ledger_compact_checks
Revises: 0039_idempotency_natural_key
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0040_ledger_compact_checks"
down_revision: str | Sequence[str] | None = "0039_idempotency_natural_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: ``(table, constraint, column, values)``: migration 0002's checks, their values as there.
CHECKS = (
    (
        "loyalty_movements",
        "ck_loyalty_movements_kind_known",
        "kind",
        ("earn", "release", "spend", "expire", "reverse", "adjust", "refund", "debt_repay"),
    ),
    (
        "loyalty_lots",
        "ck_loyalty_lots_state_known",
        "state",
        ("pending", "active", "expired", "reversed"),
    ),
    (
        "loyalty_redemptions",
        "ck_loyalty_redemptions_status_known",
        "status",
        ("issued", "cancelled"),
    ),
)


def _one_constant(column: str, values: tuple[str, ...]) -> str:
    return f"{column}::text = ANY ('{{{','.join(values)}}}'::text[])"


def _listed(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _replace(expression: str, table: str, name: str) -> None:
    op.execute(
        f"ALTER TABLE {table} DROP CONSTRAINT {name}, "
        f"ADD CONSTRAINT {name} CHECK ({expression}) NOT VALID"
    )
    op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, column, values in CHECKS:
        _replace(_one_constant(column, values), table, name)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, column, values in CHECKS:
        _replace(_listed(column, values), table, name)
