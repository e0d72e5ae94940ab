"""shopper's page sign-in links and sessions, quiz coupons, orders' payment fingerprint

Revision ID: 0020_shopper
Revises: 0019_review_score_index
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recompra.models.base

revision: str = "0020_shopper"
down_revision: str | Sequence[str] | None = "0019_review_score_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shopper_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", recompra.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", recompra.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", recompra.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_shopper_sessions_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_shopper_sessions_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shopper_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_shopper_sessions_token_hash")),
    )
    with op.batch_alter_table("shopper_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shopper_sessions_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "shopper_sign_in_links",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("requested_at", recompra.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", recompra.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", recompra.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_shopper_sign_in_links_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_shopper_sign_in_links_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shopper_sign_in_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_shopper_sign_in_links_token_hash")),
    )
    with op.batch_alter_table("shopper_sign_in_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shopper_sign_in_links_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_shopper_sign_in_links_email",
            ["brand_id", "email_hash", "requested_at"],
            unique=False,
        )

    with op.batch_alter_table("engagement_quiz_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("coupon_code", sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_engagement_quiz_attempts_coupon_code"), ["coupon_code"]
        )

    with op.batch_alter_table("engagement_quizzes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reward_coupon", sa.String(length=120), nullable=True))

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_fingerprint", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("payment_fingerprint")

    with op.batch_alter_table("engagement_quizzes", schema=None) as batch_op:
        batch_op.drop_column("reward_coupon")

    with op.batch_alter_table("engagement_quiz_attempts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_engagement_quiz_attempts_coupon_code"), type_="unique"
        )
        batch_op.drop_column("coupon_code")

    with op.batch_alter_table("shopper_sign_in_links", schema=None) as batch_op:
        batch_op.drop_index("ix_shopper_sign_in_links_email")
        batch_op.drop_index(batch_op.f("ix_shopper_sign_in_links_customer_id"))

    op.drop_table("shopper_sign_in_links")
    with op.batch_alter_table("shopper_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shopper_sessions_customer_id"))

    op.drop_table("shopper_sessions")
