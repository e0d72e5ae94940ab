"""Import runs: what was read, written and rejected, for audit and resumption."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BrandOwned, utcnow


class ImportRun(BrandOwned, Base):
    """One run of an importer. ``counts`` holds read/inserted/updated/unchanged/rejected."""

    __tablename__ = "import_runs"

    source: Mapped[str] = mapped_column(String(64))
    importer: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16), default="running")
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report_path: Mapped[str | None] = mapped_column(String(1000))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
