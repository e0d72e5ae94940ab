"""Cases opened from feedback, and the closed loop's detractor queue.

Every 1-2-star review and every detractor survey answer opens one case. Answers open
theirs in the transaction that stores the answer. Reviews arrive through the hub's
importers and ingest API, a lower layer that must not know about cases, so a worker job
(:func:`open_cases_from_feedback`, run by ``recompra worker`` on every poll, i.e. within
seconds) finds low reviews without a case and opens them: an anti-join rather than a
cursor, because a review's score may be corrected by a later upsert of the same row.
The unique ``review_id``/``survey_answer_id`` of a case keep it one per review/answer,
and the job holds a feed-cursor lock so two workers never open the same batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from recompra.automation.feeds import cursor as feed_cursor
from recompra.models import Review
from recompra.models.voc import Case, SlaPolicy, SurveyAnswer, SurveySend
from recompra.voc.cases import NewCase, insert_case
from recompra.voc.policies import brand_policies, targets_for
from recompra.voc.queue import share
from recompra.voc.scores import SURVEY_DETRACTOR_MAX

#: Review stars that open a case.
LOW_REVIEW = 2
#: Survey answers at or below these scores are detractors / negative (NPS 0-6, CSAT 1-2,
#: CES 1-3 on its 1-7 "it was easy" agreement scale).
NEGATIVE_AT_MOST = {"nps": SURVEY_DETRACTOR_MAX, "csat": 2, "ces": 3}
#: Bain's closed loop: contact a detractor within 48 hours of the feedback.
CONTACT_WITHIN = timedelta(hours=48)
_FEED = "voc_feedback_cases"


def is_negative(kind: str, score: int) -> bool:
    """Whether an answer is a detractor (NPS) or negative (CSAT, CES)."""
    return score <= NEGATIVE_AT_MOST[kind]


def _subject(prefix: str, text: str | None) -> str:
    return f"{prefix}: {text.strip()[:200]}" if text and text.strip() else prefix


def feedback_pending(session: Session, now: datetime) -> bool:
    """Whether a low review or a negative answer has no case yet (one read): the worker
    opens the job's write transaction only then (``automation.worker.ReadFirst``)."""
    negative = or_(
        *(
            and_(SurveySend.kind == kind, SurveyAnswer.score <= most)
            for kind, most in NEGATIVE_AT_MOST.items()
        )
    )
    reviews = (
        select(Review.id)
        .outerjoin(Case, Case.review_id == Review.id)
        .where(Review.score <= LOW_REVIEW, Case.id.is_(None))
    )
    answers = (
        select(SurveyAnswer.id)
        .join(SurveySend, SurveySend.id == SurveyAnswer.send_id)
        .outerjoin(Case, Case.survey_answer_id == SurveyAnswer.id)
        .where(Case.id.is_(None), negative)
    )
    return bool(session.scalar(select(exists(reviews) | exists(answers))))


def open_cases_from_feedback(session: Session, *, now: datetime, limit: int = 2000) -> int:
    """Open the missing cases of low reviews and negative answers; returns how many."""
    if feed_cursor(session, _FEED) is None:
        return 0  # another worker holds the job
    policies: dict[int, list[SlaPolicy]] = {}

    def open_one(brand_id: int, new: NewCase) -> None:
        if brand_id not in policies:
            policies[brand_id] = brand_policies(session, brand_id=brand_id)
        targets = targets_for(
            policies[brand_id], priority=new.priority, case_type=new.type, channel=new.channel
        )
        insert_case(session, brand_id=brand_id, new=new, actor="system", now=now, targets=targets)

    reviews = session.execute(
        select(Review)
        .outerjoin(Case, Case.review_id == Review.id)
        .where(Review.score <= LOW_REVIEW, Case.id.is_(None))
        .order_by(Review.id)
        .limit(limit)
    ).scalars()
    opened = 0
    for review in reviews:
        open_one(review.brand_id, review_case(review))
        opened += 1
    answers = session.execute(
        select(SurveyAnswer, SurveySend)
        .join(SurveySend, SurveySend.id == SurveyAnswer.send_id)
        .outerjoin(Case, Case.survey_answer_id == SurveyAnswer.id)
        .where(Case.id.is_(None))
        .order_by(SurveyAnswer.id)
        .limit(limit)
    ).all()
    for answer, send in answers:
        if is_negative(send.kind, answer.score):
            open_one(send.brand_id, answer_case(answer, send))
            opened += 1
    return opened


def review_case(review: Review) -> NewCase:
    """The case of a low review: a complaint, high priority for one star."""
    return NewCase(
        type="complaint",
        priority="high" if review.score == 1 else "normal",
        channel="review",
        subject=_subject(f"★{review.score}", review.title or review.comment),
        source="review",
        customer_id=review.customer_id,
        order_id=review.order_id,
        feedback_at=review.created_at,
        review_id=review.id,
    )


def answer_case(answer: SurveyAnswer, send: SurveySend) -> NewCase:
    """The case of a detractor or negative survey answer."""
    return NewCase(
        type="complaint",
        priority="normal",
        channel="survey",
        subject=_subject(f"{send.kind.upper()} {answer.score}", answer.comment),
        source="survey",
        customer_id=send.customer_id,
        order_id=send.order_id,
        feedback_at=answer.answered_at,
        survey_answer_id=answer.id,
    )


@dataclass(frozen=True)
class Detractor:
    """A case of the closed loop: when the feedback came and when we first replied."""

    case_id: int
    subject: str
    status: str
    owner: str | None
    feedback_at: datetime
    contacted_at: datetime | None
    within_48h: bool | None  # None: not contacted and the 48 h are not over yet


@dataclass(frozen=True)
class DetractorQueue:
    """The closed loop: the cases still to contact first, and the 48 h contact rate."""

    waiting: list[Detractor]
    #: Cases contacted, or whose 48 h are over.
    decided: int
    contacted_in_time: int
    #: ``contacted_in_time / decided``.
    rate: float | None


def detractor_queue(
    session: Session, *, brand_id: int, now: datetime, limit: int = 200
) -> DetractorQueue:
    """Feedback cases (low reviews, detractor answers): the uncontacted first, oldest
    first, and the share contacted (first reply) within 48 h of the feedback."""
    rows = session.execute(
        select(
            Case.id, Case.subject, Case.status, Case.owner, Case.feedback_at, Case.first_response_at
        )
        .where(
            Case.brand_id == brand_id,
            Case.source.in_(("review", "survey")),
            Case.feedback_at.is_not(None),
        )
        .order_by(Case.feedback_at, Case.id)
    ).all()
    waiting: list[Detractor] = []
    decided = in_time = 0
    for case_id, subject, status, owner, feedback_at, contacted_at in rows:
        assert feedback_at is not None  # filtered above
        deadline = feedback_at + CONTACT_WITHIN
        within = None
        if contacted_at is not None:
            within = contacted_at <= deadline
        elif now > deadline:
            within = False
        if within is not None:
            decided += 1
            in_time += within
        if contacted_at is None and status not in ("resolved", "closed") and len(waiting) < limit:
            waiting.append(Detractor(case_id, subject, status, owner, feedback_at, None, within))
    return DetractorQueue(waiting, decided, in_time, share(in_time, decided))
