"""measurement: journey targeting and uplift predictions

Revision ID: 0015_measurement
Revises: 0014_automation_tracking
Create Date: 2026-12-04 23:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recompra.models.base

revision: str = "0015_measurement"
down_revision: str | Sequence[str] | None = "0014_automation_tracking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "journey_targeting",
        sa.Column("journey_id", sa.BigInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=True),
        sa.Column("qini", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("fitted_at", recompra.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journeys.id"], name=op.f("fk_journey_targeting_journey_id_journeys")
        ),
        sa.PrimaryKeyConstraint("journey_id", name=op.f("pk_journey_targeting")),
    )
    op.create_table(
        "uplift_predictions",
        sa.Column("journey_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("uplift", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_uplift_predictions_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journeys.id"], name=op.f("fk_uplift_predictions_journey_id_journeys")
        ),
        sa.PrimaryKeyConstraint("journey_id", "customer_id", name=op.f("pk_uplift_predictions")),
    )


def downgrade() -> None:
    op.drop_table("uplift_predictions")
    op.drop_table("journey_targeting")
