"""the ledger's lots and events: composite foreign keys, one check fewer per row

Every earn inserts a movement, an event and a lot; every redemption a movement, an event
and allocations. PostgreSQL checks each foreign key of each inserted row with its own
query (``RI_FKey_check_ins``: a plan run and a row lock on the parent, about 30 K
instructions each in a steady state, a fifth of the server's work per op with the eleven
of an earn; issue 19, docs/loyalty.md). Two of those checks were implied by others of the
same row:

- a lot's ``account_id -> loyalty_accounts``: its ``movement_id`` names a movement whose
  own foreign key proves its account exists. Now ``(account_id, movement_id) ->
  loyalty_movements (account_id, id)``: one check, and stronger (the lot's account is its
  movement's);
- an event's ``program_id -> loyalty_programs``: its account's own foreign key proves the
  program exists. Now ``(program_id, account_id) -> loyalty_accounts (program_id, id)``
  (the event's program is its account's), and its movement ``(account_id, movement_id)
  -> loyalty_movements (account_id, id)`` (the movement is the event's account's).

Every column folded in is NOT NULL but the event's ``movement_id``; MATCH SIMPLE skips a
key with a NULL, and the event's account is checked by the first key then. The parents'
keys: the movements' index on ``(account_id, id)`` (the account's history) becomes
unique, which ``id`` already is, so no index is added to the table every op writes; the
accounts get a unique index on ``(id, program_id)`` (neither column is ever updated, so
the balance updates stay HOT). Per op 11 checks become 9 (earn) and 10 (redemption).
No existing row can break the new keys: each writer takes the lot's and the event's
account from the movement's or the account's row; adding a key checks every row anyway.

Both backends: SQLite rebuilds the two tables (batch mode); its composite checks are one
index lookup where it did two. The downgrade restores the single keys and the index.

Revision ID: 0041_ledger_composite_keys
Revises: 0040_ledger_compact_checks
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0041_ledger_composite_keys"
down_revision: str | Sequence[str] | None = "0040_ledger_compact_checks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: ``(table, name, columns, parent, parent columns)``: the keys this migration adds.
COMPOSITE = (
    (
        "loyalty_lots",
        "fk_loyalty_lots_account_id_loyalty_movements",
        ["account_id", "movement_id"],
        "loyalty_movements",
        ["account_id", "id"],
    ),
    (
        "loyalty_events",
        "fk_loyalty_events_program_id_loyalty_accounts",
        ["program_id", "account_id"],
        "loyalty_accounts",
        ["program_id", "id"],
    ),
    (
        "loyalty_events",
        "fk_loyalty_events_account_id_loyalty_movements",
        ["account_id", "movement_id"],
        "loyalty_movements",
        ["account_id", "id"],
    ),
)

#: ``(table, name, column, parent)``: the single keys they replace (migration 0002's).
SINGLE = (
    (
        "loyalty_lots",
        "fk_loyalty_lots_account_id_loyalty_accounts",
        "account_id",
        "loyalty_accounts",
    ),
    (
        "loyalty_lots",
        "fk_loyalty_lots_movement_id_loyalty_movements",
        "movement_id",
        "loyalty_movements",
    ),
    (
        "loyalty_events",
        "fk_loyalty_events_program_id_loyalty_programs",
        "program_id",
        "loyalty_programs",
    ),
    (
        "loyalty_events",
        "fk_loyalty_events_account_id_loyalty_accounts",
        "account_id",
        "loyalty_accounts",
    ),
    (
        "loyalty_events",
        "fk_loyalty_events_movement_id_loyalty_movements",
        "movement_id",
        "loyalty_movements",
    ),
)

TABLES = ("loyalty_lots", "loyalty_events")


def upgrade() -> None:
    # The parents' unique keys first: a foreign key needs one on its columns.
    op.create_index(
        "uq_loyalty_movements_account_id", "loyalty_movements", ["account_id", "id"], unique=True
    )
    op.drop_index("ix_loyalty_movements_account", table_name="loyalty_movements")
    op.create_index(
        "uq_loyalty_accounts_id_program", "loyalty_accounts", ["id", "program_id"], unique=True
    )
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            for child, name, _, _ in SINGLE:
                if child == table:
                    batch_op.drop_constraint(name, type_="foreignkey")
            for child, name, columns, parent, parent_columns in COMPOSITE:
                if child == table:
                    batch_op.create_foreign_key(name, parent, columns, parent_columns)


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            for child, name, _, _, _ in COMPOSITE:
                if child == table:
                    batch_op.drop_constraint(name, type_="foreignkey")
            for child, name, column, parent in SINGLE:
                if child == table:
                    batch_op.create_foreign_key(name, parent, [column], ["id"])
    op.drop_index("uq_loyalty_accounts_id_program", table_name="loyalty_accounts")
    op.create_index("ix_loyalty_movements_account", "loyalty_movements", ["account_id", "id"])
    op.drop_index("uq_loyalty_movements_account_id", table_name="loyalty_movements")
