"""automation_contacts dropped: no longer written nor read

Send decisions locked a row of ``automation_contacts`` per customer so that caps held
under concurrent workers; a decision batch now locks its customers' own rows
(``automation.batch.DecisionBatch.hold_customers``), which also orders it with a merge.
Nothing has read or written the table since, so it goes; the downgrade re-creates it
as ``0006_automation`` did (empty: its rows were locks, not data).

Revision ID: 0036_drop_automation_contacts
Revises: 0035_trigger_table_notify
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036_drop_automation_contacts"
down_revision: str | Sequence[str] | None = "0035_trigger_table_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("automation_contacts")


def downgrade() -> None:
    op.create_table(
        "automation_contacts",
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_automation_contacts_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_automation_contacts")),
    )
