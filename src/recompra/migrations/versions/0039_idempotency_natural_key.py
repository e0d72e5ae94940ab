"""the idempotency keys keyed by ``(program_id, scope, key)``: one B-tree per key, not two

Every earn and redemption stores its idempotency key. The table had a surrogate ``id``
primary key beside the unique ``(program_id, scope, key)`` that every lookup and the
``ON CONFLICT`` use; nothing read the ``id``. On SQLite a rowid table keeps its rows in
one B-tree and each index in another, so a key was two pages written to the WAL per
write; a ``WITHOUT ROWID`` table stores the rows in its primary key's B-tree: one page.
On PostgreSQL the heap stays and one index replaces two. The uniqueness the protocol
relies on (ADR 0003) is the primary key's now: the same columns, the same conflict
target (the server-side functions' ``ON CONFLICT (program_id, scope, key)`` included).

SQLite rebuilds the table (batch mode); PostgreSQL builds the primary key's index
while the table is locked, once (on a large table, minutes without ledger writes). The
downgrade gives every row a new ``id`` in no particular order.

Revision ID: 0039_idempotency_natural_key
Revises: 0038_ledger_hot_rows_storage
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039_idempotency_natural_key"
down_revision: str | Sequence[str] | None = "0038_ledger_hot_rows_storage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "loyalty_idempotency_keys"
PK = "pk_loyalty_idempotency_keys"
UNIQUE = "uq_loyalty_idempotency_keys_program_id_scope_key"
NATURAL = ["program_id", "scope", "key"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(UNIQUE, TABLE, type_="unique")
        op.drop_constraint(PK, TABLE, type_="primary")
        op.drop_column(TABLE, "id")  # its sequence goes with it
        op.create_primary_key(PK, TABLE, NATURAL)
        return
    with op.batch_alter_table(
        TABLE, recreate="always", table_kwargs={"sqlite_with_rowid": False}
    ) as batch:
        batch.drop_constraint(UNIQUE, type_="unique")
        batch.drop_column("id")
        batch.create_primary_key(PK, NATURAL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(PK, TABLE, type_="primary")
        op.execute(f"ALTER TABLE {TABLE} ADD COLUMN id BIGSERIAL")
        op.create_primary_key(PK, TABLE, ["id"])
        op.create_unique_constraint(UNIQUE, TABLE, NATURAL)
        return
    # A rowid table again, with the INTEGER PRIMARY KEY (the rowid alias) first.
    op.execute(f"ALTER TABLE {TABLE} RENAME TO _{TABLE}_0039")
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["loyalty_programs.id"],
            name="fk_loyalty_idempotency_keys_program_id_loyalty_programs",
        ),
        sa.PrimaryKeyConstraint("id", name=PK),
        sa.UniqueConstraint(*NATURAL, name=UNIQUE),
    )
    op.execute(
        f"INSERT INTO {TABLE} (program_id, scope, key, result, created_at) "
        f"SELECT program_id, scope, key, result, created_at FROM _{TABLE}_0039"
    )
    op.execute(f"DROP TABLE _{TABLE}_0039")
