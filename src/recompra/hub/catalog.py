"""Category and product upserts."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from recompra.hub.aftersale import upsert_by_source_key
from recompra.hub.rejects import EntityCounts
from recompra.hub.upsert import upsert_rows
from recompra.models import Category, Product
from recompra.models.base import utcnow

_CATEGORIES: Table = Category.__table__  # type: ignore[assignment]
_PRODUCTS: Table = Product.__table__  # type: ignore[assignment]


def slugify(text: str) -> str:
    """A stable ASCII slug for a category name (``Cama, Mesa & Banho`` -> ``cama_mesa_banho``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_") or "sem_categoria"


def upsert_categories(
    session: Session, *, brand_id: int, rows: Sequence[dict[str, Any]], counts: EntityCounts
) -> dict[str, int]:
    """Upsert categories (``slug``, ``name_pt``, ``name_en``); return ids by slug."""
    payload = [
        {
            "brand_id": brand_id,
            "slug": r["slug"],
            "name_pt": r.get("name_pt"),
            "name_en": r.get("name_en"),
        }
        for r in rows
    ]
    result = upsert_rows(
        session,
        _CATEGORIES,
        payload,
        key=("brand_id", "slug"),
        compare=("name_pt", "name_en"),
        counts=counts,
    )
    return {key[1]: cid for key, cid in result.ids.items()}


def upsert_products(
    session: Session,
    *,
    brand_id: int,
    source: str,
    rows: Sequence[dict[str, Any]],
    counts: EntityCounts,
) -> dict[str, int]:
    """Upsert products (``external_id``, ``name``, ``category_id``, ``list_price_minor``,
    ``is_merchandise``).

    Returns product ids by external id. A product seen without a name or price keeps the
    values it already has; ``is_merchandise`` changes only when the rows carry it.
    """
    now = utcnow()
    payload = [
        {
            "external_id": r["external_id"],
            "name": r.get("name"),
            "category_id": r.get("category_id"),
            "list_price_minor": r.get("list_price_minor"),
            "is_merchandise": r.get("is_merchandise", True),
            "currency": r.get("currency") or "BRL",
            "created_at": now,
            "updated_at": now,
        }
        for r in rows
    ]
    # Only attributes the source provides can change a product (see the docstring).
    compare = [c for c in ("name", "category_id", "list_price_minor") if any(p[c] for p in payload)]
    if any("is_merchandise" in r for r in rows):
        compare.append("is_merchandise")
    return upsert_by_source_key(
        session,
        _PRODUCTS,
        brand_id=brand_id,
        source=source,
        rows=payload,
        compare=compare,
        counts=counts,
    )
