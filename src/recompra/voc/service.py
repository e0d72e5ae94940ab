"""The reports of one brand, read from the hub (the entry points of the CLI, the API and
the dashboard page)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.models.voc import SurveyAnswer, SurveySend
from recompra.voc.data import load_reviews
from recompra.voc.flows import (
    DeliveryReport,
    NpsReport,
    TopicsReport,
    delivery_report,
    nps_report,
    sentiment_report,
    topics_report,
)
from recompra.voc.scores import SURVEY_MAPPING, NpsEstimate, counts_from_ratings, nps_estimate
from recompra.voc.sentiment import SentimentEvaluation
from recompra.voc.settings import star_mapping


def brand_nps(session: Session, *, brand_id: int, by: str | None = None) -> NpsReport:
    """The brand's NPS proxy and CSAT, overall and by ``by``."""
    mapping = star_mapping(session, brand_id=brand_id)
    return nps_report(load_reviews(session, brand_id=brand_id), mapping, by=by)


def brand_survey_nps(session: Session, *, brand_id: int) -> NpsEstimate | None:
    """The brand's NPS from answers to its NPS surveys (0-10, not a proxy), with its 95% CI;
    ``None`` before the first answer."""
    ratings = session.scalars(
        select(SurveyAnswer.score)
        .join(SurveySend, SurveySend.id == SurveyAnswer.send_id)
        .where(SurveySend.brand_id == brand_id, SurveySend.kind == "nps")
    ).all()
    if not ratings:
        return None
    return nps_estimate(counts_from_ratings(ratings), proxy=False, mapping=SURVEY_MAPPING)


def brand_delivery(session: Session, *, brand_id: int) -> DeliveryReport:
    """The brand's satisfaction on-time vs late, by state and by seller."""
    mapping = star_mapping(session, brand_id=brand_id)
    return delivery_report(load_reviews(session, brand_id=brand_id), mapping)


def brand_topics(session: Session, *, brand_id: int) -> TopicsReport:
    """The topics of the brand's comments."""
    return topics_report(load_reviews(session, brand_id=brand_id))


def brand_sentiment(session: Session, *, brand_id: int) -> SentimentEvaluation:
    """Lexicon and supervised sentiment AUCs on the brand's comments."""
    return sentiment_report(load_reviews(session, brand_id=brand_id))


@dataclass(frozen=True)
class VocOverview:
    """The three reports of the dashboard page."""

    nps: NpsReport
    delivery: DeliveryReport
    topics: TopicsReport
    #: The NPS of survey answers (not a proxy), ``None`` before the first answer.
    surveys: NpsEstimate | None = None


def voc_overview(session: Session, *, brand_id: int) -> VocOverview:
    """NPS proxy and CSAT by month, on-time vs late, and comment topics of a brand, from
    one read of the reviews (the same numbers as ``/v1/voc/nps?by=month``,
    ``/v1/voc/delivery`` and ``/v1/voc/topics``)."""
    data = load_reviews(session, brand_id=brand_id)
    mapping = star_mapping(session, brand_id=brand_id)
    return VocOverview(
        nps=nps_report(data, mapping, by="month"),
        delivery=delivery_report(data, mapping),
        topics=topics_report(data),
        surveys=brand_survey_nps(session, brand_id=brand_id),
    )
