"""journeys is analyzed after any change, so the due-timer claim plans from the timers

The worker's claim joins the due timers to their runs and to ``journeys`` (``status =
'active'``). A brand has a few dozen journeys, under PostgreSQL's default analyze
threshold (50 changed rows + 10%), so the table never had statistics: the planner
guessed 2 active journeys, hashed the journeys, scanned *every* run and looked up each
run's timers (78 ms per claim at 12,000 runs, growing with the runs; 0.8 ms once the
table had statistics). Autovacuum now analyzes it after any change.

Revision ID: 0028_journeys_statistics
Revises: 0027_timer_claim_order
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028_journeys_statistics"
down_revision: str | Sequence[str] | None = "0027_timer_claim_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE journeys SET (autovacuum_analyze_threshold = 0,"
            " autovacuum_analyze_scale_factor = 0)"
        )
        op.execute("ANALYZE journeys")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE journeys RESET (autovacuum_analyze_threshold,"
            " autovacuum_analyze_scale_factor)"
        )
