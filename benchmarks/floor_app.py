"""The bare floor for ``bench_api.py``: FastAPI + the database driver, nothing else.

The same work as the project's endpoints at their core: read one customer row by id,
insert one row in its own transaction. No auth, no ORM, no middleware: what any API on
this machine pays at least. Configured by ``FLOOR_DATABASE`` (a SQLite file path or a
``postgresql://`` DSN); the bench creates the ``floor_writes`` table.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, HTTPException

DATABASE = os.environ.get("FLOOR_DATABASE", "")
_local = threading.local()
app = FastAPI()


def _connection() -> Any:
    """One connection per thread-pool thread, opened once (what a pool gives)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        if DATABASE.startswith("postgresql"):
            import psycopg

            conn = psycopg.connect(DATABASE, autocommit=False)
        else:
            conn = sqlite3.connect(DATABASE, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        _local.conn = conn
    return conn


def _sql(statement: str) -> str:
    return statement.replace("?", "%s") if DATABASE.startswith("postgresql") else statement


@app.get("/customers/{customer_id}")
def customer(customer_id: int) -> dict[str, Any]:
    """One customer row by primary key."""
    conn = _connection()
    row = conn.execute(
        _sql("SELECT id, name, email, city, state FROM customers WHERE id = ?"), (customer_id,)
    ).fetchone()
    if DATABASE.startswith("postgresql"):
        conn.rollback()
    if row is None:
        raise HTTPException(404)
    return {"id": row[0], "name": row[1], "email": row[2], "city": row[3], "state": row[4]}


@app.post("/orders/{order_id}/earn")
def earn(order_id: int) -> dict[str, Any]:
    """Insert one row in its own write transaction."""
    conn = _connection()
    now = datetime.now(UTC).isoformat()
    if DATABASE.startswith("postgresql"):
        conn.execute(
            _sql("INSERT INTO floor_writes (order_id, created_at) VALUES (?, ?)"), (order_id, now)
        )
        conn.commit()
    else:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO floor_writes (order_id, created_at) VALUES (?, ?)", (order_id, now)
        )
        conn.execute("COMMIT")
    return {"order_id": order_id}


if __name__ == "__main__":
    # Served like ``recompra serve`` serves the project (the same socket options).
    from recompra.server import run_uvicorn

    parser = argparse.ArgumentParser(description="Serve the bare floor app.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    run_uvicorn(
        "floor_app:app",
        factory=False,
        workers=args.workers,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
    )
