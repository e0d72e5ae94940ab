"""Pipeline use cases: stages, leads, opportunities, stage moves, won/lost, activities.

Every stage move writes a :class:`StageChange` row, so the stage history (and with it
the maturity gate "stage history on >= 80% of opportunities") comes from using the
pipeline, not from a separate log. Services take the caller's session and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.errors import InvalidInput, NotFound
from recompra.hub.accounts import add_buyer, create_account, find_account_by_name
from recompra.hub.customers import upsert_customers
from recompra.hub.rejects import EntityCounts
from recompra.models import Activity, Lead, Opportunity, SalesStage, StageChange
from recompra.models.commercial import ACTIVITY_KINDS

#: The default kanban: key, names, position, win probability, outcome. The
#: probabilities are the usual starting point of weighted forecasts (EspoCRM, Odoo);
#: a brand should replace them with its own stage-to-win rates once it has history.
DEFAULT_STAGES: tuple[tuple[str, str, str, float, str], ...] = (
    ("prospecting", "Prospecção", "Prospecting", 0.10, "open"),
    ("qualification", "Qualificação", "Qualification", 0.20, "open"),
    ("proposal", "Proposta", "Proposal", 0.50, "open"),
    ("negotiation", "Negociação", "Negotiation", 0.75, "open"),
    ("won", "Ganha", "Won", 1.0, "won"),
    ("lost", "Perdida", "Lost", 0.0, "lost"),
)
#: The source of customer accounts created from won deals.
B2B_CUSTOMER_SOURCE = "b2b_deal"


def ensure_stages(session: Session, *, brand_id: int) -> dict[str, SalesStage]:
    """The brand's stages by key, creating the default kanban on first use."""
    stages = {
        s.key: s for s in session.scalars(select(SalesStage).where(SalesStage.brand_id == brand_id))
    }
    if stages:
        return stages
    for position, (key, name_pt, name_en, probability, outcome) in enumerate(DEFAULT_STAGES):
        stage = SalesStage(
            brand_id=brand_id,
            key=key,
            name_pt=name_pt,
            name_en=name_en,
            position=position,
            probability=probability,
            outcome=outcome,
        )
        session.add(stage)
        stages[key] = stage
    session.flush()
    return stages


def _opportunity(session: Session, brand_id: int, opportunity_id: int) -> Opportunity:
    opp = session.get(Opportunity, opportunity_id)
    if opp is None or opp.brand_id != brand_id:
        raise NotFound(f"opportunity {opportunity_id} not found")
    return opp


def open_opportunity(
    session: Session,
    *,
    brand_id: int,
    external_id: str,
    company: str | None = None,
    lead_id: int | None = None,
    amount_minor: int | None = None,
    owner: str | None = None,
    expected_close_on: date | None = None,
    at: datetime,
    source: str = "manual",
) -> Opportunity:
    """Open an opportunity in the first stage and record its entry in the history."""
    if amount_minor is not None and amount_minor < 0:
        raise InvalidInput("amount must not be negative", field="amount_minor")
    stages = ensure_stages(session, brand_id=brand_id)
    first = min((s for s in stages.values() if s.outcome == "open"), key=lambda s: s.position)
    opp = Opportunity(
        brand_id=brand_id,
        source=source,
        external_id=external_id,
        company=company,
        lead_id=lead_id,
        amount_minor=amount_minor,
        owner=owner,
        expected_close_on=expected_close_on,
        stage_id=first.id,
        status="open",
        attributes={},
        flags={},
    )
    session.add(opp)
    session.flush()
    session.add(StageChange(opportunity_id=opp.id, to_stage_id=first.id, changed_at=at))
    session.flush()
    return opp


def move_stage(
    session: Session,
    *,
    brand_id: int,
    opportunity_id: int,
    stage_key: str,
    at: datetime,
    lost_reason: str | None = None,
) -> Opportunity:
    """Move an open opportunity to ``stage_key``; a lost stage needs ``lost_reason``."""
    opp = _opportunity(session, brand_id, opportunity_id)
    if opp.status != "open":
        raise InvalidInput(f"opportunity {opportunity_id} is already {opp.status}")
    stages = ensure_stages(session, brand_id=brand_id)
    stage = stages.get(stage_key)
    if stage is None:
        raise InvalidInput(f"unknown stage {stage_key!r}", field="stage")
    reason = (lost_reason or "").strip()
    if stage.outcome == "lost" and not reason:
        raise InvalidInput("a lost opportunity needs a lost reason", field="lost_reason")
    session.add(
        StageChange(
            opportunity_id=opp.id, from_stage_id=opp.stage_id, to_stage_id=stage.id, changed_at=at
        )
    )
    opp.stage_id = stage.id
    opp.status = stage.outcome
    if stage.outcome != "open":
        opp.closed_at = at
        opp.lost_reason = reason or None
    session.flush()
    return opp


def customer_from_won_deal(session: Session, *, brand_id: int, opportunity_id: int) -> int:
    """Make a won deal's company a hub customer account (once) and return its id.

    The deal becomes a customer keyed by the opportunity (source ``b2b_deal``) and the
    owner of the brand's company account of that name (created on the first won deal,
    shared by later ones), to which the company's buyers are added: one company, many
    buyers, one pooled loyalty balance (``hub.accounts``).
    """
    opp = _opportunity(session, brand_id, opportunity_id)
    if opp.status != "won":
        raise InvalidInput(f"opportunity {opportunity_id} is {opp.status}, not won")
    if opp.customer_id is not None:
        return opp.customer_id
    record = {
        "source": B2B_CUSTOMER_SOURCE,
        "external_id": f"{opp.source}:{opp.external_id}",
        "name": opp.company,
    }
    ids = upsert_customers(session, brand_id=brand_id, records=[record], counts=EntityCounts())
    opp.customer_id = next(iter(ids.values()))
    session.flush()
    name = opp.company or f"{opp.source}:{opp.external_id}"
    account = find_account_by_name(session, brand_id=brand_id, name=name) or create_account(
        session, brand_id=brand_id, name=name
    )
    add_buyer(
        session,
        brand_id=brand_id,
        account_id=account.id,
        customer_id=opp.customer_id,
        role="owner",
    )
    return opp.customer_id


def add_activity(
    session: Session,
    *,
    brand_id: int,
    opportunity_id: int,
    kind: str,
    at: datetime,
    note: str | None = None,
    proposal_amount_minor: int | None = None,
    proposal_valid_until: date | None = None,
) -> Activity:
    """Log an activity; a proposal must carry its value and validity."""
    _opportunity(session, brand_id, opportunity_id)
    if kind not in ACTIVITY_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(ACTIVITY_KINDS)}", field="kind")
    if kind == "proposal" and (proposal_amount_minor is None or proposal_valid_until is None):
        raise InvalidInput("a proposal needs its amount and validity", field="proposal")
    activity = Activity(
        opportunity_id=opportunity_id,
        kind=kind,
        occurred_at=at,
        note=note,
        proposal_amount_minor=proposal_amount_minor,
        proposal_valid_until=proposal_valid_until,
    )
    session.add(activity)
    session.flush()
    return activity


@dataclass(frozen=True)
class KanbanColumn:
    """One stage of the kanban: how many deals and how much money sit in it."""

    key: str
    name_pt: str
    name_en: str
    probability: float
    count: int
    amount_minor: int


def kanban(session: Session, *, brand_id: int) -> list[KanbanColumn]:
    """Count and sum of amounts per stage, in stage order (reads only: the default
    stages are shown, empty, before the brand's first opportunity creates them)."""
    stored = session.scalars(
        select(SalesStage).where(SalesStage.brand_id == brand_id).order_by(SalesStage.position)
    ).all()
    if not stored:
        return [
            KanbanColumn(key, name_pt, name_en, probability, 0, 0)
            for key, name_pt, name_en, probability, _ in DEFAULT_STAGES
        ]
    rows = session.execute(
        select(
            Opportunity.stage_id,
            func.count(),
            func.coalesce(func.sum(Opportunity.amount_minor), 0),
        )
        .where(Opportunity.brand_id == brand_id)
        .group_by(Opportunity.stage_id)
    ).all()
    by_stage = {int(stage): (int(n), int(total or 0)) for stage, n, total in rows}
    return [
        KanbanColumn(
            key=s.key,
            name_pt=s.name_pt,
            name_en=s.name_en,
            probability=s.probability,
            count=by_stage.get(s.id, (0, 0))[0],
            amount_minor=by_stage.get(s.id, (0, 0))[1],
        )
        for s in stored
    ]


def lead_count(session: Session, *, brand_id: int) -> int:
    """How many leads the brand has."""
    return int(session.scalar(select(func.count()).where(Lead.brand_id == brand_id)) or 0)
