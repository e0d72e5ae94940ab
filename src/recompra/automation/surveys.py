"""Survey links in messages: a survey send per decision and its signed answer link.

A journey's ``send`` node with ``survey: nps|csat|ces`` (and the survey sends of the
API and CLI, through :mod:`recompra.voc.surveys`) issue a send here, keyed by where it
came from, so a replayed decision reuses the send and its link. The link's token is the
send id signed with the installation secret (:mod:`recompra.automation.signing`): the
public page and the API accept an answer only for a token that verifies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.automation.signing import sign, signed_body
from recompra.db.dialect import insert_ignoring_conflicts
from recompra.models.voc import SURVEY_SENDS, SurveySend

#: The answer scale of each survey: NPS 0-10, CSAT 1-5, CES 1-7 (inclusive).
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
_PREFIX = "survey"


def issue_survey(
    session: Session,
    *,
    brand_id: int,
    customer_id: int,
    order_id: int | None,
    kind: str,
    origin_key: str,
    now: datetime,
) -> int:
    """The id of the send for ``origin_key`` (created on first use)."""
    send_id = session.execute(
        insert_ignoring_conflicts(
            session, SURVEY_SENDS, index_elements=("origin_key",), returning="id"
        ),
        {
            "brand_id": brand_id,
            "customer_id": customer_id,
            "order_id": order_id,
            "kind": kind,
            "origin_key": origin_key,
            "sent_at": now,
        },
    ).scalar()
    if send_id is None:
        send_id = session.scalar(select(SurveySend.id).where(SurveySend.origin_key == origin_key))
    assert send_id is not None  # inserted, or the conflict says it exists
    return int(send_id)


def survey_token(secret: str, send_id: int) -> str:
    """The signed token of a send's answer link."""
    return sign(secret, f"{_PREFIX}.{send_id}")


def read_survey_token(secret: str, token: str) -> int | None:
    """The send id of a genuine token; ``None`` when forged, altered or of another kind."""
    prefix, _, send_id = (signed_body(secret, token) or "").partition(".")
    return int(send_id) if prefix == _PREFIX and send_id.isdigit() else None


def survey_context(
    session: Session,
    *,
    brand_id: int,
    customer_id: int,
    order_id: int | None,
    kind: str,
    origin_key: str,
    secret: str,
    public_url: str,
    now: datetime,
) -> dict[str, Any]:
    """Issue the send and give the message template its links: one per score, so the
    customer's first click already carries the answer (the page then confirms it)."""
    send_id = issue_survey(
        session,
        brand_id=brand_id,
        customer_id=customer_id,
        order_id=order_id,
        kind=kind,
        origin_key=origin_key,
        now=now,
    )
    url = f"{public_url}/survey/{survey_token(secret, send_id)}"
    low, high = SCALES[kind]
    return {
        "id": send_id,
        "kind": kind,
        "url": url,
        "low": low,
        "high": high,
        "scores": [{"value": v, "url": f"{url}?score={v}"} for v in range(low, high + 1)],
    }
