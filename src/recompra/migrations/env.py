"""Alembic environment: runs against the connection handed in by recompra.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from recompra.db import get_engine
from recompra.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with get_engine().connect() as conn:
        _run(conn)
        conn.commit()
