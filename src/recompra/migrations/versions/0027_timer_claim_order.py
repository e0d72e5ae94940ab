"""journey_timers' claim index covers the claim's whole order: (state, due_at, id)

The worker claims ``WHERE state = 'pending' AND due_at <= now ORDER BY due_at, id LIMIT
500``. On (state, due_at) the tie-break on id was not in the index, so every claim read
and sorted *all* the due timers sharing a due time to return 500 of them: a burst of
timers due at the same moment (a campaign, a bulk import, the benchmark's 100,000) made
each batch cost in proportion to the backlog, and the whole backlog quadratic. With id in
the index the claim reads its 500 rows in order and stops.

Revision ID: 0027_timer_claim_order
Revises: 0026_order_update_xact
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027_timer_claim_order"
down_revision: str | Sequence[str] | None = "0026_order_update_xact"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_journey_timers_state_due", table_name="journey_timers")
    op.create_index("ix_journey_timers_state_due", "journey_timers", ["state", "due_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_journey_timers_state_due", table_name="journey_timers")
    op.create_index("ix_journey_timers_state_due", "journey_timers", ["state", "due_at"])
