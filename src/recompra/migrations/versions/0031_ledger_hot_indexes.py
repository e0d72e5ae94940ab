"""loyalty ledger: no index entry for what the hot path leaves NULL, no unread index

Every earn and redemption inserts a movement, and every movement had an entry in
``ix_loyalty_movements_batch_id`` (NULL but for the expiry job's movements) and, for a
redemption's ``spend``, in ``ix_loyalty_movements_order_id`` (NULL but for an order's
movements); every balance change inserts an event with an entry in
``ix_loyalty_events_unpublished``, an index no query reads (no relay publishes the
events; the automations read the ledger itself). Each of those entries is a B-tree page
written per write: on SQLite a 4 KiB WAL frame at the commit, about a seventeenth of an
earn's pages. The two movement indexes become partial (``IS NOT NULL``): every query that
uses them says ``batch_id = :x`` or ``order_id = :x``, which implies the condition on
both backends, so they keep using them. The events' index is dropped.

Revision ID: 0031_ledger_hot_indexes
Revises: 0030_ledger_functions_open
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031_ledger_hot_indexes"
down_revision: str | Sequence[str] | None = "0030_ledger_functions_open"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The movement indexes made partial: name, column.
PARTIAL = (
    ("ix_loyalty_movements_batch_id", "batch_id"),
    ("ix_loyalty_movements_order_id", "order_id"),
)


def upgrade() -> None:
    for name, column in PARTIAL:
        condition = sa.text(f"{column} IS NOT NULL")
        op.drop_index(name, table_name="loyalty_movements")
        op.create_index(
            name,
            "loyalty_movements",
            [column],
            sqlite_where=condition,
            postgresql_where=condition,
        )
    op.drop_index("ix_loyalty_events_unpublished", table_name="loyalty_events")


def downgrade() -> None:
    op.create_index("ix_loyalty_events_unpublished", "loyalty_events", ["published_at", "id"])
    for name, column in PARTIAL:
        op.drop_index(name, table_name="loyalty_movements")
        op.create_index(name, "loyalty_movements", [column])
