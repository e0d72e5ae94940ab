"""Voice-of-the-customer settings of a brand: the review-star mapping of the NPS proxy."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, utcnow


class VocSetting(Base):
    """A brand's NPS-proxy mapping: stars ``>= promoter_min_stars`` are promoters, stars
    ``<= detractor_max_stars`` detractors, the stars between them passives.

    A brand without a row uses the default (5 promoter, 4 passive, 1-3 detractor).
    """

    __tablename__ = "voc_settings"
    __table_args__ = (
        CheckConstraint(
            "detractor_max_stars >= 1 AND detractor_max_stars < promoter_min_stars "
            "AND promoter_min_stars <= 5",
            name="star_mapping_ordered",
        ),
    )

    brand_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("brands.id"), primary_key=True)
    promoter_min_stars: Mapped[int] = mapped_column(Integer, default=5)
    detractor_max_stars: Mapped[int] = mapped_column(Integer, default=3)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
