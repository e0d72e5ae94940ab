"""Products and categories (names in pt-BR and en where known)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BrandOwned, SourceKeyed, Timestamped


class Category(BrandOwned, Base):
    """A product category of a brand, identified by a slug (e.g. ``beleza_saude``)."""

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("brand_id", "slug"),)

    slug: Mapped[str] = mapped_column(String(120))
    name_pt: Mapped[str | None] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))


class Product(SourceKeyed, Timestamped, Base):
    """A product of a brand, keyed by the source system's id."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("brand_id", "source", "external_id"),)

    name: Mapped[str | None] = mapped_column(String(300))
    category_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("categories.id"), index=True
    )
    list_price_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="BRL")
    #: False for postage, fees, vouchers, adjustments: they count in order totals but are
    #: never recommended, up-sold or "bought together" (see docs/importing.md).
    is_merchandise: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
