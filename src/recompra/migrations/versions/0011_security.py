"""security: brand-scoped identities, server-side dashboard sessions, sign-in throttle

Revision ID: 0011_security
Revises: 0009_engagement
Create Date: 2026-12-04 20:20:00

E-mail, document and phone identities used to be installation-wide (``source`` empty),
so a brand that sent another brand's customer's e-mail got that brand's profile (issue
20). They are now scoped by brand (``source`` ``@<brand id>``, as
``recompra.hub.customers.personal_identity`` writes them). An existing identity goes to
the brand that first saw its customer; another brand linked to the same customer keeps
its link and history but no longer reaches that profile through the e-mail or document.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import recompra.models.base

revision: str = "0011_security"
down_revision: str | Sequence[str] | None = "0009_engagement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PERSONAL_KINDS = "('email', 'cpf', 'cnpj', 'phone')"


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", recompra.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", recompra.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", recompra.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["dashboard_users.id"],
            name=op.f("fk_dashboard_sessions_user_id_dashboard_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_dashboard_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_dashboard_sessions_user_id"), "dashboard_sessions", ["user_id"], unique=False
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account", sa.String(length=320), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failed_at", recompra.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(
        "ix_login_failures_account_address",
        "login_failures",
        ["account", "address", "failed_at"],
        unique=False,
    )
    op.execute(
        f"""
        UPDATE customer_identities
        SET source = '@' || CAST((
            SELECT bc.brand_id FROM brand_customers bc
            WHERE bc.customer_id = customer_identities.customer_id
            ORDER BY bc.first_seen_at, bc.brand_id
            LIMIT 1
        ) AS VARCHAR(20))
        WHERE source = '' AND kind IN {_PERSONAL_KINDS}
          AND EXISTS (
            SELECT 1 FROM brand_customers bc
            WHERE bc.customer_id = customer_identities.customer_id
          )
        """
    )


def downgrade() -> None:
    # Two brands may now hold the same e-mail; installation-wide identities keep the oldest.
    op.execute(
        f"""
        DELETE FROM customer_identities
        WHERE kind IN {_PERSONAL_KINDS} AND source LIKE '@%'
          AND id NOT IN (
            SELECT MIN(id) FROM customer_identities
            WHERE kind IN {_PERSONAL_KINDS} AND source LIKE '@%'
            GROUP BY kind, value
          )
        """
    )
    op.execute(
        f"UPDATE customer_identities SET source = '' "
        f"WHERE kind IN {_PERSONAL_KINDS} AND source LIKE '@%'"
    )
    op.drop_index("ix_login_failures_account_address", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_index(op.f("ix_dashboard_sessions_user_id"), table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
