"""The survey bonus, awarded when a feedback survey is answered (not on request).

The B2B earning rule ``survey_bonus`` pays for answering a feedback survey. Voice of
the customer calls :func:`award_for_answer` in the transaction that stores the answer,
so the bonus follows the answer with no API call; the key is the answer's id, so a
retried answer or a replayed job cannot pay twice (the ledger's idempotency keys).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from recompra.loyalty.ledger.results import EarnResult
from recompra.loyalty.operations.bonus import award_bonus
from recompra.loyalty.programs import active_program_for_brand, find_account


def award_for_answer(
    session: Session, *, brand_id: int, customer_id: int, answer_id: int, at: datetime
) -> EarnResult | None:
    """Credit the survey bonus for one answer to a member of the brand's program (their
    own account or their company's pool); ``None`` when there is no program or the
    customer is not a member (an answer does not enrol anyone)."""
    program = active_program_for_brand(session, brand_id=brand_id)
    if program is None:
        return None
    if find_account(session, program_id=program.id, customer_id=customer_id) is None:
        return None
    return award_bonus(
        session,
        program_id=program.id,
        customer_id=customer_id,
        trigger="survey",
        key=f"survey-answer:{answer_id}",
        at=at,
    )
