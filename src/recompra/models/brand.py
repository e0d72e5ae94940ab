"""Brands: one installation can serve several stores (each a brand)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BigIntPK, utcnow


class Brand(Base):
    """A store or brand. Orders, products and programs belong to one brand."""

    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    default_currency: Mapped[str] = mapped_column(String(3), default="BRL")
    default_locale: Mapped[str] = mapped_column(String(8), default="pt-BR")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
