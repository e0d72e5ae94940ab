"""The stored NPS-proxy mapping of a brand (table ``voc_settings``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from recompra.models import VocSetting
from recompra.voc.scores import StarMapping


def star_mapping(session: Session, *, brand_id: int) -> StarMapping:
    """The brand's star -> NPS category mapping (the default when none is stored)."""
    row = session.get(VocSetting, brand_id)
    if row is None:
        return StarMapping()
    return StarMapping(row.promoter_min_stars, row.detractor_max_stars)


def set_star_mapping(
    session: Session, *, brand_id: int, promoter_min: int, detractor_max: int
) -> StarMapping:
    """Store the brand's mapping (validated first; flushes, the caller commits)."""
    mapping = StarMapping(promoter_min, detractor_max)
    row = session.get(VocSetting, brand_id)
    if row is None:
        row = VocSetting(brand_id=brand_id)
        session.add(row)
    row.promoter_min_stars, row.detractor_max_stars = promoter_min, detractor_max
    session.flush()
    return mapping
