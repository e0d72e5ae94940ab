"""loyalty lots: indexes that expiry does not rewrite, and the lot's expiry time

Revision ID: 0022_lot_expiry
Revises: 0021_measurement_reports
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recompra.models.base

revision: str = "0022_lot_expiry"
down_revision: str | Sequence[str] | None = "0021_measurement_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("state = 'active'")
PENDING = sa.text("state = 'pending'")
#: Name, columns and condition of the partial indexes on the open states.
PARTIAL_INDEXES = (
    ("ix_loyalty_lots_account_active", ["account_id", "expires_at", "id"], ACTIVE),
    ("ix_loyalty_lots_account_pending", ["account_id", "release_at", "id"], PENDING),
    ("ix_loyalty_lots_active_expires", ["expires_at"], ACTIVE),
    ("ix_loyalty_lots_pending_release", ["release_at"], PENDING),
)


def upgrade() -> None:
    # Expiring a lot changes its state. Every index holding ``state`` had one entry
    # deleted and one inserted per expired lot (three such indexes: 6 index writes per
    # lot on SQLite, and on PostgreSQL every index gets a new entry). Partial indexes on
    # the open states hold only the lots the hot path and the jobs look for; an expired
    # lot leaves them and enters none (docs/loyalty.md, "Expiry").
    op.add_column(
        "loyalty_lots",
        sa.Column("expired_at", recompra.models.base.UTCDateTime(timezone=True), nullable=True),
    )
    op.drop_index("ix_loyalty_lots_account_state", table_name="loyalty_lots")
    op.drop_index("ix_loyalty_lots_state_expires", table_name="loyalty_lots")
    op.drop_index("ix_loyalty_lots_state_release", table_name="loyalty_lots")
    op.create_index("ix_loyalty_lots_account", "loyalty_lots", ["account_id", "id"])
    for name, columns, condition in PARTIAL_INDEXES:
        op.create_index(
            name, "loyalty_lots", columns, sqlite_where=condition, postgresql_where=condition
        )


def downgrade() -> None:
    for name, _columns, _condition in PARTIAL_INDEXES:
        op.drop_index(name, table_name="loyalty_lots")
    op.drop_index("ix_loyalty_lots_account", table_name="loyalty_lots")
    op.create_index("ix_loyalty_lots_state_release", "loyalty_lots", ["state", "release_at"])
    op.create_index("ix_loyalty_lots_state_expires", "loyalty_lots", ["state", "expires_at"])
    op.create_index(
        "ix_loyalty_lots_account_state",
        "loyalty_lots",
        ["account_id", "state", "expires_at", "id"],
    )
    with op.batch_alter_table("loyalty_lots", schema=None) as batch_op:
        batch_op.drop_column("expired_at")
