"""Alembic migrations of the operational database (run with ``recompra db upgrade``)."""
