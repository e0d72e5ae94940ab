"""the inserting transaction's id on every table a trigger feed reads by id, so that on
PostgreSQL a feed reads rows in (transaction, id) order and only once their transaction
has finished: a transaction holding a lower id that commits late is no longer skipped

Revision ID: 0025_feed_transactions
Revises: 0024_property_rules
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_feed_transactions"
down_revision: str | Sequence[str] | None = "0024_property_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FEED_TABLES = (
    "orders",
    "returns",
    "reviews",
    "events",
    "segment_membership_events",
    "loyalty_tier_changes",
)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    # pg_current_xact_id() is an xid8 (epoch << 32 | xid), a bigint for the next
    # billions of years. Rows already there get this migration's transaction id.
    default = sa.text("(pg_current_xact_id()::text::bigint)") if postgresql else None
    for table in FEED_TABLES:
        op.add_column(table, sa.Column("xact_id", sa.BigInteger(), server_default=default))
        op.create_index(f"ix_{table}_xact", table, ["xact_id", "id"])
    op.add_column(
        "automation_cursors",
        sa.Column("xact_position", sa.BigInteger(), server_default="0", nullable=False),
    )
    if postgresql:
        # Every row read so far carries this transaction's id: a cursor at (it, position)
        # reads on from where it stood.
        op.execute(
            "UPDATE automation_cursors SET xact_position = pg_current_xact_id()::text::bigint"
        )


def downgrade() -> None:
    with op.batch_alter_table("automation_cursors") as batch_op:
        batch_op.drop_column("xact_position")
    for table in FEED_TABLES:
        op.drop_index(f"ix_{table}_xact", table_name=table)
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("xact_id")
