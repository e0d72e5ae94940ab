"""Commercial management: the B2B pipeline (opportunities, stage moves, activities,
kanban), funnel analytics, deal forecast and back-tests, lead score, marketing spend and
CAC, OKRs and the maturity assessment.

Reading needs the ``read`` scope; every write (pipeline changes, spend, refits that store
scores or back-tests, OKR templates, questionnaire answers) needs ``admin``. The bodies
are the read model's (``recompra.reads.commercial``), the same numbers the CLI prints.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, Field

from recompra.api.deps import AdminBrand, OneHopRoute, ReadBrand, ReadSession, WriteSession
from recompra.api.errors import READ_ERRORS, WRITE_ERRORS
from recompra.commercial import deals
from recompra.commercial.maturity import DIMENSIONS, save_answers
from recompra.commercial.okrs import install_templates
from recompra.commercial.spend import write_spend
from recompra.errors import InvalidInput
from recompra.hub.rejects import EntityCounts
from recompra.models.base import utcnow
from recompra.reads import commercial as reads

router = APIRouter(prefix="/v1/commercial", tags=["commercial"], route_class=OneHopRoute)


OpportunityId = Annotated[int, Path(ge=1, description="Opportunity id")]
Report = dict[str, Any]


class OpportunityIn(BaseModel):
    """A new opportunity (it starts in the first stage)."""

    external_id: str = Field(min_length=1, max_length=128)
    company: str | None = Field(default=None, max_length=200)
    amount_minor: int | None = Field(default=None, ge=0)
    owner: str | None = Field(default=None, max_length=128)
    expected_close_on: date | None = None


class OpportunityOut(BaseModel):
    """An opportunity's id, stage and status."""

    id: int
    stage_id: int
    status: str
    lost_reason: str | None
    customer_id: int | None


class StageMoveIn(BaseModel):
    """A move to another stage; ``lost`` needs a reason."""

    stage: str = Field(min_length=1, max_length=32)
    lost_reason: str | None = Field(default=None, max_length=200)
    at: datetime | None = None


class ActivityIn(BaseModel):
    """An activity; a proposal carries its amount and validity."""

    kind: Literal["call", "meeting", "email", "note", "proposal"]
    note: str | None = Field(default=None, max_length=2000)
    proposal_amount_minor: int | None = Field(default=None, ge=0)
    proposal_valid_until: date | None = None
    at: datetime | None = None


class SpendIn(BaseModel):
    """Spend of one channel in one month (``month`` is any day of it)."""

    month: date
    channel: str = Field(min_length=1, max_length=64)
    audience: Literal["b2c", "b2b"]
    amount_minor: int = Field(ge=0)
    paid: bool = True


class AnswersIn(BaseModel):
    """Questionnaire answers: dimension -> yes/no for levels 2..5."""

    answers: dict[str, list[bool]]


def _opportunity_out(opp: Any) -> OpportunityOut:
    return OpportunityOut(
        id=opp.id,
        stage_id=opp.stage_id,
        status=opp.status,
        lost_reason=opp.lost_reason,
        customer_id=opp.customer_id,
    )


@router.get("/funnel", operation_id="commercial_funnel", responses=READ_ERRORS)
def funnel(
    brand: ReadBrand,
    session: ReadSession,
    by: Annotated[
        Literal["channel", "page", "cohort", "year", "rep"], Query(description="Grouping")
    ] = "channel",
) -> Report:
    """Conversion (Wilson 95% CI) overall and by group, time to close, ranking, reps."""
    return reads.funnel_report(session, brand_id=brand.id, by=by)


@router.get("/kanban", operation_id="commercial_kanban", responses=READ_ERRORS)
def kanban(brand: ReadBrand, session: ReadSession) -> list[Report]:
    """Count and Σ amount (minor units) per stage."""
    return reads.kanban_report(session, brand_id=brand.id)


@router.post(
    "/opportunities",
    operation_id="commercial_opportunity_create",
    status_code=status.HTTP_201_CREATED,
    response_model=OpportunityOut,
    responses=WRITE_ERRORS,
)
def create_opportunity(
    body: OpportunityIn, brand: AdminBrand, session: WriteSession
) -> OpportunityOut:
    """Open an opportunity in the first stage (recorded in the stage history)."""
    opp = deals.open_opportunity(
        session,
        brand_id=brand.id,
        external_id=body.external_id,
        company=body.company,
        amount_minor=body.amount_minor,
        owner=body.owner,
        expected_close_on=body.expected_close_on,
        at=utcnow(),
        source="api",
    )
    return _opportunity_out(opp)


@router.post(
    "/opportunities/{opportunity_id}/stage",
    operation_id="commercial_opportunity_move",
    response_model=OpportunityOut,
    responses=WRITE_ERRORS,
)
def move(
    opportunity_id: OpportunityId, body: StageMoveIn, brand: AdminBrand, session: WriteSession
) -> OpportunityOut:
    """Move to a stage; ``won`` also makes the company a hub customer account."""
    opp = deals.move_stage(
        session,
        brand_id=brand.id,
        opportunity_id=opportunity_id,
        stage_key=body.stage,
        at=body.at or utcnow(),
        lost_reason=body.lost_reason,
    )
    if opp.status == "won":
        deals.customer_from_won_deal(session, brand_id=brand.id, opportunity_id=opp.id)
    return _opportunity_out(opp)


@router.post(
    "/opportunities/{opportunity_id}/activities",
    operation_id="commercial_activity_add",
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
def add_activity(
    opportunity_id: OpportunityId, body: ActivityIn, brand: AdminBrand, session: WriteSession
) -> dict[str, int]:
    """Log a call, meeting, e-mail, note or proposal."""
    activity = deals.add_activity(
        session,
        brand_id=brand.id,
        opportunity_id=opportunity_id,
        kind=body.kind,
        at=body.at or utcnow(),
        note=body.note,
        proposal_amount_minor=body.proposal_amount_minor,
        proposal_valid_until=body.proposal_valid_until,
    )
    return {"id": activity.id}


@router.get("/forecast/deals", operation_id="commercial_forecast_deals", responses=READ_ERRORS)
def forecast_deals(brand: ReadBrand, session: ReadSession) -> Report:
    """Weighted pipeline, next month's won deals and the stored forecast-vs-actual history."""
    return reads.forecast_report(session, brand_id=brand.id)


@router.post(
    "/forecast/deals/backtest", operation_id="commercial_forecast_backtest", responses=WRITE_ERRORS
)
def forecast_backtest(brand: AdminBrand, session: WriteSession) -> Report:
    """Run the rolling one-step back-test, store it and answer it with the WAPEs."""
    return reads.forecast_report(session, brand_id=brand.id, run_backtest=True, at=utcnow())


@router.post("/leads/score", operation_id="commercial_leads_score", responses=WRITE_ERRORS)
def leads_score(brand: AdminBrand, session: WriteSession) -> Report:
    """Refit the lead score (CV AUC, top-decile lift) and store every lead's probability."""
    return reads.lead_score_report(session, brand_id=brand.id, at=utcnow())


@router.get("/leads/fits", operation_id="commercial_leads_fits", responses=READ_ERRORS)
def leads_fits(brand: ReadBrand, session: ReadSession) -> Report:
    """Stored lead-score fits (version, model, CV AUC, lift), newest first, and the
    best-scored leads not converted yet."""
    return reads.lead_fits_report(session, brand_id=brand.id)


@router.get("/cac", operation_id="commercial_cac", responses=READ_ERRORS)
def cac(
    brand: ReadBrand,
    session: ReadSession,
    gross_margin: Annotated[float | None, Query(gt=0, le=1, description="Margin rate")] = None,
) -> Report:
    """B2C and B2B CAC (blended, paid, per channel), payback and LTV:CAC, with gaps named."""
    return reads.cac_report(session, brand_id=brand.id, gross_margin=gross_margin)


@router.put("/spend", operation_id="commercial_spend_put", responses=WRITE_ERRORS)
def put_spend(rows: list[SpendIn], brand: AdminBrand, session: WriteSession) -> dict[str, int]:
    """Create or update spend rows by (audience, channel, month); answers the counts."""
    counts = EntityCounts(read=len(rows))
    write_spend(
        session,
        brand_id=brand.id,
        rows=[
            {
                "month": row.month.replace(day=1),
                "channel": row.channel,
                "audience": row.audience,
                "amount_minor": row.amount_minor,
                "paid": row.paid,
                "currency": brand.currency,
            }
            for row in rows
        ],
        counts=counts,
    )
    return {"inserted": counts.inserted, "updated": counts.updated, "unchanged": counts.unchanged}


@router.get("/okrs", operation_id="commercial_okrs_list", responses=READ_ERRORS)
def okrs_list(brand: ReadBrand, session: ReadSession) -> list[Report]:
    """Every objective with its key results judged on live KPIs."""
    return reads.okr_report(session, brand_id=brand.id)


@router.get("/okrs/{key}", operation_id="commercial_okrs_show", responses=READ_ERRORS)
def okrs_show(
    key: Annotated[str, Path(min_length=1, max_length=64)], brand: ReadBrand, session: ReadSession
) -> Report:
    """One objective."""
    return reads.okr_report(session, brand_id=brand.id, key=key)[0]


@router.post("/okrs/templates", operation_id="commercial_okrs_templates", responses=WRITE_ERRORS)
def okrs_templates(brand: AdminBrand, session: WriteSession) -> dict[str, list[str]]:
    """Install seed 003's OKRs; answers the key results skipped for lack of data."""
    return {"skipped": install_templates(session, brand_id=brand.id)}


@router.get("/maturity", operation_id="commercial_maturity", responses=READ_ERRORS)
def maturity(brand: ReadBrand, session: ReadSession) -> Report:
    """Levels per dimension, capped by evidence, with the next step of each."""
    return reads.maturity_report(session, brand_id=brand.id)


@router.put("/maturity/answers", operation_id="commercial_maturity_answers", responses=WRITE_ERRORS)
def maturity_answers(body: AnswersIn, brand: AdminBrand, session: WriteSession) -> Report:
    """Store the questionnaire and answer the capped assessment."""
    unknown = set(body.answers) - set(DIMENSIONS)
    if unknown:
        raise InvalidInput(f"unknown dimensions: {', '.join(sorted(unknown))}", field="answers")
    save_answers(session, brand_id=brand.id, answers=body.answers)
    return reads.maturity_report(session, brand_id=brand.id)
