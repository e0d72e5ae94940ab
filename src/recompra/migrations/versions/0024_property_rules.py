"""customer properties in typed columns (text, whole number, true/false) instead of JSON,
so segment rules compare them with plain SQL on SQLite, PostgreSQL and DuckDB

Revision ID: 0024_property_rules
Revises: 0022_lot_expiry
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0024_property_rules"
down_revision: str | Sequence[str] | None = "0022_lot_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TYPED = ("text_value", "number_value", "flag_value")


def _typed(value: Any) -> dict[str, Any]:
    """The typed columns of one stored value (the JSON ``{"value": ...}`` of 0014)."""
    row: dict[str, Any] = dict.fromkeys(TYPED)
    if isinstance(value, bool):
        row["flag_value"] = value
    elif isinstance(value, int):
        row["number_value"] = value
    elif value is not None:
        row["text_value"] = str(value)
    return row


def _properties() -> sa.TableClause:
    """The table's value columns, old and new, for the data copy."""
    return sa.table(
        "customer_properties",
        sa.column("id", sa.BigInteger()),
        sa.column("value", sa.JSON()),
        *(sa.column(name) for name in TYPED),
    )


def upgrade() -> None:
    with op.batch_alter_table("customer_properties", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text_value", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("number_value", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("flag_value", sa.Boolean(), nullable=True))
    connection = op.get_bind()
    table = _properties()
    rows = connection.execute(sa.select(table.c.id, table.c.value)).all()
    for row_id, stored in rows:
        document = json.loads(stored) if isinstance(stored, str) else stored
        connection.execute(
            table.update().where(table.c.id == row_id).values(_typed((document or {}).get("value")))
        )
    with op.batch_alter_table("customer_properties", schema=None) as batch_op:
        batch_op.drop_column("value")


def downgrade() -> None:
    with op.batch_alter_table("customer_properties", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value", sa.JSON(), nullable=True))
    connection = op.get_bind()
    table = _properties()
    rows = connection.execute(
        sa.select(table.c.id, table.c.text_value, table.c.number_value, table.c.flag_value)
    ).all()
    for row_id, text, number, flag in rows:
        value = flag if flag is not None else number if number is not None else text
        connection.execute(
            table.update().where(table.c.id == row_id).values(value={"value": value})
        )
    with op.batch_alter_table("customer_properties", schema=None) as batch_op:
        batch_op.alter_column("value", existing_type=sa.JSON(), nullable=False)
        for name in TYPED:
            batch_op.drop_column(name)
