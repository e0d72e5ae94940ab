"""Cases from feedback: one per 1-2-star review (however often the job runs, and when a
score is corrected later), one per negative survey answer; and the 48-hour closed loop."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select, update
from voctest import LINKS, WEDNESDAY_10H, add_review, make_shop

from recompra.db import unit_of_work
from recompra.models import Review
from recompra.models.voc import Case
from recompra.voc.cases import get_case, reply
from recompra.voc.feedback import detractor_queue, open_cases_from_feedback


def _run_job(engine: Engine, at: object = WEDNESDAY_10H) -> int:
    with unit_of_work(engine) as session:
        return open_cases_from_feedback(session, now=at)  # type: ignore[arg-type]


def test_every_low_review_opens_one_case(engine: Engine) -> None:
    shop = make_shop(engine)
    one = add_review(engine, shop, 0, 1)
    two = add_review(engine, shop, 1, 2)
    three = add_review(engine, shop, 1, 3)
    add_review(engine, shop, 0, 5)
    assert _run_job(engine) == 2
    assert _run_job(engine) == 0  # idempotent
    with unit_of_work(engine) as session:
        # A corrected score (an upsert of the same review) is seen by the next pass.
        session.execute(update(Review).where(Review.id == three).values(score=1))
    assert _run_job(engine) == 1
    with unit_of_work(engine, write=False) as session:
        cases = session.scalars(select(Case).order_by(Case.review_id)).all()
    assert [(c.review_id, c.priority, c.channel, c.status) for c in cases] == [
        (one, "high", "review", "new"),
        (two, "normal", "review", "new"),
        (three, "high", "review", "new"),
    ]
    assert cases[0].subject == "★1: entrega atrasou"
    assert cases[0].customer_id == shop.customers[0]
    assert cases[0].order_id == shop.orders[0]
    assert all(c.first_response_due_at is not None for c in cases)  # every case has a clock


def test_detractor_queue_and_contact_within_48_hours(engine: Engine) -> None:
    shop = make_shop(engine)
    start = WEDNESDAY_10H - timedelta(hours=50)
    contacted = add_review(engine, shop, 0, 1, at=start)
    add_review(engine, shop, 1, 2, at=start)  # never contacted: late after 48 h
    _run_job(engine, start + timedelta(hours=1))
    with unit_of_work(engine) as session:
        case_id = session.scalar(select(Case.id).where(Case.review_id == contacted))
        assert case_id is not None
        case = get_case(session, brand_id=shop.brand_id, case_id=case_id)
        reply(
            session,
            case=case,
            author="ana",
            body="Vamos resolver",
            links=LINKS,
            now=start + timedelta(hours=10),
        )
    recent = add_review(engine, shop, 1, 1, at=WEDNESDAY_10H - timedelta(hours=1))
    _run_job(engine)
    with unit_of_work(engine, write=False) as session:
        queue = detractor_queue(session, brand_id=shop.brand_id, now=WEDNESDAY_10H)
        recent_case = session.scalar(select(Case.id).where(Case.review_id == recent))
    # Decided: the contacted one (in time) and the one whose 48 h are over; the recent
    # one still has 47 hours.
    assert (queue.decided, queue.contacted_in_time, queue.rate) == (2, 1, 0.5)
    assert [d.within_48h for d in queue.waiting] == [False, None]
    assert queue.waiting[1].case_id == recent_case
