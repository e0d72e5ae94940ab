"""automation: coupons of coupon nodes and customer properties of property nodes

Revision ID: 0014_automation_tracking
Revises: 0013_voc_settings
Create Date: 2026-12-04 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

import recompra.models.base

revision: str = "0014_automation_tracking"
down_revision: str | Sequence[str] | None = "0013_voc_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = (
    sa.JSON()
    .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    .with_variant(sqlite.JSON(), "sqlite")
)


def upgrade() -> None:
    op.create_table(
        "automation_coupons",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column("pool", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("expires_at", recompra.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("execution_key", sa.String(length=300), nullable=True),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("assigned_at", recompra.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", recompra.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_automation_coupons_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["journey_runs.id"], name=op.f("fk_automation_coupons_run_id_journey_runs")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_automation_coupons_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_coupons")),
        sa.UniqueConstraint("brand_id", "code", name=op.f("uq_automation_coupons_brand_id_code")),
        sa.UniqueConstraint("execution_key", name=op.f("uq_automation_coupons_execution_key")),
    )
    with op.batch_alter_table("automation_coupons", schema=None) as batch_op:
        batch_op.create_index(
            "ix_automation_coupons_pool_free", ["brand_id", "pool", "execution_key"], unique=False
        )
        batch_op.create_index("ix_automation_coupons_run", ["run_id"], unique=False)
    op.create_table(
        "customer_properties",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("updated_at", recompra.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_customer_properties_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_properties_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_properties")),
        sa.UniqueConstraint(
            "brand_id",
            "customer_id",
            "name",
            name=op.f("uq_customer_properties_brand_id_customer_id_name"),
        ),
    )


def downgrade() -> None:
    op.drop_table("customer_properties")
    with op.batch_alter_table("automation_coupons", schema=None) as batch_op:
        batch_op.drop_index("ix_automation_coupons_run")
        batch_op.drop_index("ix_automation_coupons_pool_free")
    op.drop_table("automation_coupons")
