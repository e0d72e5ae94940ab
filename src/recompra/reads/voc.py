"""What the voice-of-the-customer page shows: NPS proxy by month, delivery, topics.

The reviews are read once and every report is computed from them, so the page's numbers
are those of ``/v1/voc/nps?by=month``, ``/v1/voc/delivery`` and ``/v1/voc/topics``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from recompra.voc.data import load_reviews
from recompra.voc.flows import (
    DeliveryReport,
    NpsReport,
    TopicsReport,
    delivery_report,
    nps_report,
    topics_report,
)
from recompra.voc.settings import star_mapping


@dataclass(frozen=True)
class VocOverview:
    """The three reports of the page."""

    nps: NpsReport
    delivery: DeliveryReport
    topics: TopicsReport


def voc_overview(session: Session, *, brand_id: int) -> VocOverview:
    """NPS proxy and CSAT by month, on-time vs late, and comment topics of a brand."""
    data = load_reviews(session, brand_id=brand_id)
    mapping = star_mapping(session, brand_id=brand_id)
    return VocOverview(
        nps=nps_report(data, mapping, by="month"),
        delivery=delivery_report(data, mapping),
        topics=topics_report(data),
    )
