"""Liveness: the process answers and the database is reachable."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter
from sqlalchemy import text

from recompra.api.deps import OneHopRoute, ReadSession
from recompra.api.schemas import Health

router = APIRouter(tags=["health"], route_class=OneHopRoute)


def _version() -> str:
    try:
        return version("recompra")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


@router.get("/health", operation_id="health", response_model=Health)
def health(session: ReadSession) -> Health:
    """Answer ``ok`` when the database answers a trivial query."""
    session.execute(text("SELECT 1"))
    return Health(status="ok", database="ok", version=_version())
