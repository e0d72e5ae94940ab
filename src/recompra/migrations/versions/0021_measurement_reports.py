"""measurement_reports: the uplift and loyalty ROI reports the worker stores for the page

Revision ID: 0021_measurement_reports
Revises: 0020_shopper
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import recompra.models.base

revision: str = "0021_measurement_reports"
down_revision: str | Sequence[str] | None = "0020_shopper"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "measurement_reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("settings_key", sa.String(length=400), nullable=False),
        sa.Column("data_version", sa.String(length=64), nullable=False),
        sa.Column("computed_at", recompra.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", recompra.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "payload",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sa.JSON(), "sqlite"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_measurement_reports_brand_id_brands")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurement_reports")),
        sa.UniqueConstraint(
            "brand_id",
            "kind",
            "settings_key",
            name=op.f("uq_measurement_reports_brand_id_kind_settings_key"),
        ),
    )


def downgrade() -> None:
    op.drop_table("measurement_reports")
