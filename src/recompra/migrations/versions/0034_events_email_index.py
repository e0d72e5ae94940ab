"""events: a partial index of the e-mail clicks and opens for the measurement's check

The measurement refresh reads its data version every check (measurement/version.py),
and counted every event (``count(id), max(id)`` over the whole table: the fastest
growing one, 2,000 a second in a sustained events run). The reports read only the
e-mail clicks and opens, so the version now counts those, with their customer ids (a
merge moves them); this index holds just those rows, so the count reads them alone
(an index-only scan on PostgreSQL) instead of every event.

Revision ID: 0034_events_email_index
Revises: 0033_ledger_unread_indexes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034_events_email_index"
down_revision: str | Sequence[str] | None = "0033_ledger_unread_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONDITION = "type IN ('email_clicked', 'email_opened')"


def upgrade() -> None:
    op.create_index(
        "ix_events_email_responses",
        "events",
        ["id", "customer_id"],
        sqlite_where=sa.text(CONDITION),
        postgresql_where=sa.text(CONDITION),
    )


def downgrade() -> None:
    op.drop_index("ix_events_email_responses", table_name="events")
