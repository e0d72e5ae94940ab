"""PostgreSQL announces its own writes to the automation's trigger tables

A statement-level ``AFTER INSERT OR UPDATE`` trigger on each table journeys react to
calls ``pg_notify('recompra_automation', '')``: the notification is sent at commit and
dropped on rollback (a savepoint's too), and PostgreSQL folds the duplicates of a
transaction into one. It replaces the server's own ``NOTIFY``, which the engine sent
after a statement matched a pattern: one more round trip in every write transaction of
the API (an earn's 6 became 5), a regular expression run on every statement, and only
the server's writes were announced (an import or a job in another process left a
``recompra worker`` waiting for its poll). SQLite has no such channel: nothing changes
there (its workers poll, or are woken in-process).

The table list is frozen here, as it stood at this revision
(``recompra.automation.wakeup.TRIGGER_TABLES``; ``tests/automation/test_wakeup.py``
checks that every table of that list carries the trigger).

Revision ID: 0035_trigger_table_notify
Revises: 0034_events_email_index
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0035_trigger_table_notify"
down_revision: str | Sequence[str] | None = "0034_events_email_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "orders",
    "returns",
    "reviews",
    "events",
    "segment_membership_events",
    "customer_scores",
    "loyalty_tier_changes",
    "loyalty_lots",
)
FUNCTION = "recompra_announce_write"
TRIGGER = "recompra_announce_write"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Per statement, not per row: a bulk insert calls it once (a multi-row INSERT) or
    # once per row of an executemany, and each call after the first of a transaction is
    # folded by PostgreSQL (same channel, same payload).
    op.execute(
        f"CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN PERFORM pg_notify('recompra_automation', ''); RETURN NULL; END $$"
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER {TRIGGER} ON {table}")
    op.execute(f"DROP FUNCTION {FUNCTION}()")
