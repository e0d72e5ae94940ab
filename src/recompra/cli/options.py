"""Option value parsers shared by several commands."""

from __future__ import annotations

from datetime import UTC, datetime

import typer


def parse_utc(value: str) -> datetime:
    """Parse an ISO date or datetime; naive values are taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO date: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
