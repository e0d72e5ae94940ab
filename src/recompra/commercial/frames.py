"""The funnel as one pandas frame per brand: one row per lead with its deal, if any.

Every funnel metric, forecast and lead score reads this frame, so they all agree on
what a lead, a conversion and a time to close are (docs/commercial.md).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.models import Lead, Opportunity

#: What :func:`funnel_frame` reads; ``prepare_funnel`` derives the rest of ``COLUMNS``.
QUERIED = (
    "lead_id",
    "channel",
    "landing_page",
    "first_contact_on",
    "sdr",
    "owner",
    "segment",
    "closed_at",
)
COLUMNS = (*QUERIED[:-1], "won", "closed_on")


def prepare_funnel(frame: pd.DataFrame) -> pd.DataFrame:
    """Derive ``won`` and ``closed_on`` (the UTC date the deal was won) from raw columns.

    ``frame`` has ``first_contact_on`` (date) and ``closed_at`` (aware timestamp of a won
    deal, missing otherwise). The time to close is defined once, in the funnel SQL
    (``funnel_sql.time_to_close_sql``), from these two dates.
    """
    out = frame.copy()
    out["first_contact_on"] = pd.to_datetime(out["first_contact_on"])
    closed = pd.to_datetime(out["closed_at"], utc=True)
    out["won"] = closed.notna()
    out["closed_on"] = closed.dt.tz_localize(None).dt.normalize()
    return out[list(COLUMNS)]


def funnel_frame(session: Session, *, brand_id: int) -> pd.DataFrame:
    """Every lead of ``brand_id`` with its won deal (if any), as :func:`prepare_funnel`."""
    rows = session.execute(
        select(
            Lead.id,
            Lead.channel,
            Lead.landing_page,
            Lead.first_contact_on,
            Lead.sdr,
            Opportunity.owner,
            Opportunity.segment,
            Opportunity.closed_at,
        )
        .outerjoin(
            Opportunity,
            (Opportunity.lead_id == Lead.id) & (Opportunity.status == "won"),
        )
        .where(Lead.brand_id == brand_id)
    ).all()
    frame = pd.DataFrame(rows, columns=list(QUERIED))
    # A lead counts once: with several won deals, the first one decides its conversion.
    frame = frame.sort_values(["lead_id", "closed_at"]).drop_duplicates("lead_id")
    return prepare_funnel(frame)
