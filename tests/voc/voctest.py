"""Helpers shared by the voice-of-the-customer tests (a unique module name)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine


@dataclass(frozen=True)
class ImportedOlist:
    """A SQLite database holding the whole Olist import, and its brand."""

    url: str
    engine: Engine
    brand_id: int
    slug: str
