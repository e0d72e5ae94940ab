"""Helpers shared by several command groups: option parsers, brand lookup, errors, files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
import yaml

from recompra.db import get_engine, unit_of_work
from recompra.errors import RecompraError
from recompra.hub.brands import get_brand


def parse_utc(value: str) -> datetime:
    """Parse an ISO date or datetime; naive values are taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO date: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def brand_id_of(brand: str) -> int:
    """The id of the brand with slug ``brand`` (a clear error when it does not exist)."""
    with unit_of_work(get_engine(), write=False) as session:
        return get_brand(session, brand).id


def exit_with(error: RecompraError) -> typer.Exit:
    """Print a domain error and every problem it lists on stderr; the exit to raise."""
    typer.echo(f"error: {error.message}", err=True)
    for problem in getattr(error, "problems", []):
        typer.echo(f"  {problem}", err=True)
    return typer.Exit(1)


def load_documents(path: Path) -> list[Any]:
    """The definitions in a YAML/JSON file: one document, a list, or YAML documents."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        loaded = json.loads(text)
        return loaded if isinstance(loaded, list) else [loaded]
    documents: list[Any] = []
    for loaded in yaml.safe_load_all(text):
        if loaded is not None:
            documents.extend(loaded if isinstance(loaded, list) else [loaded])
    return documents
