"""B2B company accounts with pooled points, the survey bonus, and coalition programs.

Company accounts belong to the key's brand (another brand's account is 404); their
buyers must be customers of the brand. The pool answers the shared balance, the account
tier, the benefits and each buyer's contribution. A coalition is joined with an admin
key; every brand of a coalition reads the per-brand report (points and who pays).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel
from pydantic import Field as PydanticField

from recompra.api.deps import (
    MAX_ID,
    AdminBrand,
    CustomerId,
    LoyaltyBrand,
    LoyaltyWriter,
    OneHopRoute,
    ReadSession,
    WriteSession,
)
from recompra.api.errors import READ_ERRORS, WRITE_ERRORS
from recompra.api.routers.loyalty import EarnOut
from recompra.hub.accounts import add_buyer, create_account, get_account, remove_buyer
from recompra.loyalty import award_bonus
from recompra.loyalty.coalition import BrandReport, brand_reports, join_coalition
from recompra.loyalty.pools import PoolSummary, pool_summary
from recompra.models.base import utcnow
from recompra.reads import loyalty as q
from recompra.reads.customers import visible_customer

router = APIRouter(prefix="/v1/loyalty", tags=["loyalty"], route_class=OneHopRoute)


CompanyId = Annotated[int, Path(ge=1, le=MAX_ID, description="Company account id")]


class CompanyIn(BaseModel):
    """A new company account and its commercial benefits."""

    name: str = PydanticField(min_length=1, max_length=200)
    document: str | None = PydanticField(default=None, max_length=14)
    price_list_ref: str | None = PydanticField(default=None, max_length=64)
    discount_bps: int = PydanticField(default=0, ge=0, le=10_000)
    free_shipping: bool = False
    manager_name: str | None = PydanticField(default=None, max_length=200)
    manager_email: str | None = PydanticField(default=None, max_length=320)


class CompanyOut(BaseModel):
    """A company account."""

    id: int
    name: str
    price_list_ref: str | None
    discount_bps: int
    free_shipping: bool
    manager_name: str | None


class MemberIn(BaseModel):
    """A buyer's role within the account (owners and buyers may redeem, viewers not)."""

    role: str = PydanticField(default="buyer", pattern="^(owner|buyer|viewer)$")


class MemberOut(BaseModel):
    """A member of a company account."""

    account_id: int
    customer_id: int
    role: str


class SurveyBonusIn(BaseModel):
    """A survey answer that earns the ``survey_bonus`` rule's points (once per key)."""

    answer_key: str = PydanticField(min_length=1, max_length=100)


class CoalitionJoinIn(BaseModel):
    """A brand that joins the key's brand's program, with its earn rate."""

    member_brand_id: int = PydanticField(ge=1, le=MAX_ID)
    earn_rate_pct: int = PydanticField(default=100, ge=1, le=1_000)


class CoalitionMemberOut(BaseModel):
    """A brand of a coalition program and its earn rate."""

    program_id: int
    brand_id: int
    earn_rate_pct: int


def _company_out(company: Any) -> CompanyOut:
    return CompanyOut(
        id=company.id,
        name=company.name,
        price_list_ref=company.price_list_ref,
        discount_bps=company.discount_bps,
        free_shipping=company.free_shipping,
        manager_name=company.manager_name,
    )


@router.post(
    "/companies",
    operation_id="loyalty_create_company",
    response_model=CompanyOut,
    status_code=201,
    responses=WRITE_ERRORS,
)
def create_company(body: CompanyIn, writer: LoyaltyWriter) -> CompanyOut:
    """Create a B2B company account of the brand."""
    with writer.unit_of_work() as (session, brand):
        company = create_account(session, brand_id=brand.id, **body.model_dump())
        return _company_out(company)


@router.put(
    "/companies/{company_id}/members/{customer_id}",
    operation_id="loyalty_set_company_member",
    response_model=MemberOut,
    responses=WRITE_ERRORS,
)
def set_member(
    company_id: CompanyId, customer_id: CustomerId, body: MemberIn, writer: LoyaltyWriter
) -> MemberOut:
    """Add a buyer to the account, or change their role."""
    with writer.unit_of_work() as (session, brand):
        member = add_buyer(
            session,
            brand_id=brand.id,
            account_id=company_id,
            customer_id=customer_id,
            role=body.role,
        )
        return MemberOut(account_id=member.account_id, customer_id=customer_id, role=member.role)


@router.delete(
    "/companies/{company_id}/members/{customer_id}",
    operation_id="loyalty_remove_company_member",
    status_code=204,
    responses=WRITE_ERRORS,
)
def delete_member(
    company_id: CompanyId, customer_id: CustomerId, writer: LoyaltyWriter
) -> Response:
    """Take a buyer out of the account (their past contributions stay in the pool)."""
    with writer.unit_of_work() as (session, brand):
        remove_buyer(session, brand_id=brand.id, account_id=company_id, customer_id=customer_id)
    return Response(status_code=204)


@router.get(
    "/companies/{company_id}",
    operation_id="loyalty_company_pool",
    response_model=PoolSummary,
    responses=READ_ERRORS,
)
def company_pool(company_id: CompanyId, brand: LoyaltyBrand, session: ReadSession) -> PoolSummary:
    """The pooled balance, account tier, benefits and each buyer's contribution."""
    program = q.brand_program(session, brand_id=brand.id)
    company = get_account(session, brand_id=brand.id, account_id=company_id)
    return pool_summary(session, program_id=program.id, company_account_id=company.id, now=utcnow())


@router.post(
    "/customers/{customer_id}/survey-bonus",
    operation_id="loyalty_survey_bonus",
    response_model=EarnOut,
    responses=WRITE_ERRORS,
)
def survey_bonus(customer_id: CustomerId, body: SurveyBonusIn, writer: LoyaltyWriter) -> EarnOut:
    """Credit the survey bonus for an answered feedback survey (once per answer key)."""
    with writer.unit_of_work() as (session, brand):
        program = q.brand_program(session, brand_id=brand.id)
        customer = visible_customer(session, brand_id=brand.id, customer_id=customer_id)
        result = award_bonus(
            session,
            program_id=program.id,
            customer_id=customer.id,
            trigger="survey",
            key=body.answer_key,
        )
    return EarnOut.model_validate(result, from_attributes=True)


@router.post(
    "/coalition/members",
    operation_id="loyalty_join_coalition",
    response_model=CoalitionMemberOut,
    status_code=201,
    responses=WRITE_ERRORS,
)
def coalition_join(
    body: CoalitionJoinIn, brand: AdminBrand, session: WriteSession
) -> CoalitionMemberOut:
    """Make another brand a member of this brand's program (admin keys only)."""
    program = q.brand_program(session, brand_id=brand.id)
    member = join_coalition(
        session,
        program_id=program.id,
        brand_id=body.member_brand_id,
        earn_rate_pct=body.earn_rate_pct,
    )
    return CoalitionMemberOut(
        program_id=program.id, brand_id=member.brand_id, earn_rate_pct=member.earn_rate_pct
    )


@router.get(
    "/coalition",
    operation_id="loyalty_coalition_report",
    response_model=list[BrandReport],
    responses=READ_ERRORS,
)
def coalition_report(
    brand: LoyaltyBrand, session: ReadSession, request: Request
) -> list[BrandReport]:
    """Per-brand figures of the brand's program: points, redemptions and who pays."""
    program = q.brand_program(session, brand_id=brand.id)
    rate = request.app.state.settings.point_value_minor_per_1000
    return brand_reports(session, program_id=program.id, point_value_minor_per_1000=rate)
