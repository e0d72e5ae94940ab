"""reviews: index on (score, id) for the low-review case job

Revision ID: 0019_review_score_index
Revises: 0018_privacy
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019_review_score_index"
down_revision: str | Sequence[str] | None = "0018_privacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The worker looks for 1-2-star reviews without a case on every pass; without this
    # index that is a scan of every review, every second.
    op.create_index("ix_reviews_score_id", "reviews", ["score", "id"])


def downgrade() -> None:
    op.drop_index("ix_reviews_score_id", table_name="reviews")
