"""orders.update_xact_id, stamped by the database on every insert and update, so the
``order_updates`` feed reads an order again once per committed change in commit-safe
order instead of by ``updated_at`` after a settle delay (a long transaction that updated
an order and committed after the delay was skipped for ever)

PostgreSQL: the writing transaction's id (the column's default on insert, a ``BEFORE
UPDATE`` trigger on update). SQLite: a change number one above the table's highest (an
``AFTER INSERT`` and an ``AFTER UPDATE`` trigger; writers are serialised, so numbers are
taken in commit order). Triggers rather than the ORM, so Core bulk updates, upserts and
imports are stamped too.

Revision ID: 0026_order_update_xact
Revises: 0025_feed_transactions
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0026_order_update_xact"
down_revision: str | Sequence[str] | None = "0025_feed_transactions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_XACT = "(pg_current_xact_id()::text::bigint)"
# SQLite: the next change number. The WHEN guard skips the trigger's own UPDATE (and an
# explicit write of the column), so it never loops whatever recursive_triggers says.
_SQLITE_STAMP = (
    "UPDATE orders SET update_xact_id ="
    " (SELECT coalesce(max(update_xact_id), 0) + 1 FROM orders) WHERE id = NEW.id;"
)


def _orders() -> sa.TableClause:
    return sa.table(
        "orders",
        sa.column("id", sa.BigInteger()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("update_xact_id", sa.BigInteger()),
    )


def _cursors() -> sa.TableClause:
    return sa.table(
        "automation_cursors",
        sa.column("feed", sa.String()),
        sa.column("position", sa.BigInteger()),
        sa.column("xact_position", sa.BigInteger()),
    )


def _stamp_existing_rows(postgresql: bool) -> None:
    """Orders the ``order_updates`` time cursor had read get 0; those changed after it
    are stamped past it (so they are still read), and the cursor moves to (0, their
    highest id). Without a cursor (no journey applied yet) every order gets 0."""
    bind = op.get_bind()
    orders, cursors = _orders(), _cursors()
    read_until = bind.scalar(sa.select(cursors.c.position).where(cursors.c.feed == "order_updates"))
    if read_until is None:
        bind.execute(orders.update().values(update_xact_id=0))
        return
    # The old cursor: microseconds since the epoch of the last updated_at read.
    cutoff = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=read_until)
    bound = cutoff if postgresql else cutoff.replace(tzinfo=None)  # SQLite: naive UTC
    bind.execute(orders.update().where(orders.c.updated_at <= bound).values(update_xact_id=0))
    if postgresql:
        bind.execute(
            orders.update()
            .where(orders.c.update_xact_id.is_(None))
            .values(update_xact_id=sa.text(_XACT))
        )
    else:
        unread = bind.scalars(
            sa.select(orders.c.id)
            .where(orders.c.update_xact_id.is_(None))
            .order_by(orders.c.updated_at, orders.c.id)
        ).all()
        for number, order_id in enumerate(unread, start=1):
            bind.execute(
                orders.update().where(orders.c.id == order_id).values(update_xact_id=number)
            )
    last_read = bind.scalar(sa.select(sa.func.max(orders.c.id)).where(orders.c.update_xact_id == 0))
    bind.execute(
        cursors.update()
        .where(cursors.c.feed == "order_updates")
        .values(xact_position=0, position=last_read or 0)
    )


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.add_column("orders", sa.Column("update_xact_id", sa.BigInteger(), nullable=True))
    _stamp_existing_rows(postgresql)
    op.create_index("ix_orders_update_xact", "orders", ["update_xact_id", "id"])
    if postgresql:
        op.alter_column("orders", "update_xact_id", server_default=sa.text(_XACT))
        op.execute(
            "CREATE FUNCTION orders_stamp_update() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN NEW.update_xact_id := {_XACT}; RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER orders_stamp_update BEFORE UPDATE ON orders"
            " FOR EACH ROW EXECUTE FUNCTION orders_stamp_update()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER orders_stamp_insert AFTER INSERT ON orders BEGIN {_SQLITE_STAMP} END"
        )
        op.execute(
            "CREATE TRIGGER orders_stamp_update AFTER UPDATE ON orders"
            f" WHEN NEW.update_xact_id IS OLD.update_xact_id BEGIN {_SQLITE_STAMP} END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER orders_stamp_update ON orders")
        op.execute("DROP FUNCTION orders_stamp_update()")
    else:
        op.execute("DROP TRIGGER orders_stamp_update")
        op.execute("DROP TRIGGER orders_stamp_insert")
    op.drop_index("ix_orders_update_xact", table_name="orders")
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_column("update_xact_id")
    # The time cursor of order_updates cannot be rebuilt: it restarts at its feed's end.
    op.execute("DELETE FROM automation_cursors WHERE feed = 'order_updates'")
