"""loyalty ledger: drop the two indexes no query reads (movements by order, events by account)

Every earn inserted an entry in ``ix_loyalty_movements_order_id`` and every earn and
redemption one in ``ix_loyalty_events_account``; each entry lands on a leaf page of its
own (random order and account), so each is a B-tree page written per write: on SQLite a
4 KiB WAL frame at the commit (earn 14.8 -> 12.6 pages, redemption 14.6 -> 13.6).

No code reads them: no query looks movements up by order (the returns and releases find
an order's lots, through ``ix_loyalty_lots_order``) and none reads events at all (the
audit trail and the automations' feed are read through the movements). The one generic
reader is the privacy inventory (``privacy/inventory.py``), which follows every foreign
key to a customer's rows once per export or erasure; it already reads both tables whole
for their unindexed links (movements by ``customer_id``, events by ``movement_id``), so
the cost of such a request grows by a second scan, not in kind. Orders and loyalty
accounts are never deleted, so no foreign-key check looks the children up either.

Revision ID: 0033_ledger_unread_indexes
Revises: 0032_ledger_earn_order
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033_ledger_unread_indexes"
down_revision: str | Sequence[str] | None = "0032_ledger_earn_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_loyalty_movements_order_id", table_name="loyalty_movements")
    op.drop_index("ix_loyalty_events_account", table_name="loyalty_events")


def downgrade() -> None:
    op.create_index("ix_loyalty_events_account", "loyalty_events", ["account_id", "id"])
    condition = sa.text("order_id IS NOT NULL")
    op.create_index(
        "ix_loyalty_movements_order_id",
        "loyalty_movements",
        ["order_id"],
        sqlite_where=condition,
        postgresql_where=condition,
    )
