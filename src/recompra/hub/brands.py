"""Brands: look up or create the store an import or request belongs to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.errors import NotFound
from recompra.models import Brand

DEFAULT_BRAND = "default"


def ensure_brand(session: Session, slug: str = DEFAULT_BRAND, *, name: str | None = None) -> Brand:
    """Return the brand ``slug``, creating it if it does not exist yet."""
    brand = session.scalar(select(Brand).where(Brand.slug == slug))
    if brand is None:
        brand = Brand(slug=slug, name=name or slug.replace("-", " ").title())
        session.add(brand)
        session.flush()
    return brand


def get_brand(session: Session, slug: str) -> Brand:
    """Return the brand ``slug`` or raise :class:`NotFound`."""
    brand = session.scalar(select(Brand).where(Brand.slug == slug))
    if brand is None:
        raise NotFound(f"brand {slug!r} does not exist", field="brand")
    return brand
