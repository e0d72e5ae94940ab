"""Loyalty: program config, balances and history, simulate, earn, redeem, rewards, tiers.

Everything acts on the brand's active program (404 when it runs none). Customers and
orders of other brands are 404. Domain refusals are 409 (insufficient balance, reward
unavailable, limit reached, tier required, archived program, order that earns nothing).
"""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.api.deps import (
    MAX_ID,
    BrandWriter,
    CustomerId,
    Limit,
    LoyaltyBrand,
    LoyaltyWriter,
    Offset,
    OneHopRoute,
    ReadSession,
)
from recompra.api.errors import READ_ERRORS, WRITE_ERRORS
from recompra.api.idempotency import claimed, record_in, records_in_unit_of_work, replay_in
from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.loyalty import cancel_redemption, earn_for_order, redeem, simulate
from recompra.loyalty.analytics import ProgramAnalytics, program_analytics
from recompra.loyalty.balances import PointsAsOf, points_as_of
from recompra.loyalty.errors import TierRequired
from recompra.loyalty.ledger import server_side
from recompra.loyalty.operations.earn import earn_in_one_call
from recompra.loyalty.programs import active_program_id, earn_target
from recompra.loyalty.rules.calculation import OrderLine, OrderSnapshot
from recompra.models import Order
from recompra.models.base import utcnow
from recompra.models.loyalty import LoyaltyAccount
from recompra.reads import loyalty as q
from recompra.reads.customers import visible_customer
from recompra.segments.live import loyalty_reevaluation_due, reevaluate_loyalty

router = APIRouter(prefix="/v1/loyalty", tags=["loyalty"], route_class=OneHopRoute)


OrderId = Annotated[int, Path(ge=1, le=MAX_ID, description="Order id (Recompra's)")]
CouponCode = Annotated[str, Path(min_length=1, max_length=32, description="Coupon code")]


class TierRequiredConflict(Conflict):
    """The reward needs a higher tier (a business refusal, not a missing API scope)."""

    code = "tier_required"


class Program(BaseModel):
    """The brand's active program and the earning rules in force now."""

    id: int
    name: str
    status: str
    currency: str
    return_window_days: int
    release_on: str
    expiry_days: int
    expiry_warning_days: int
    refund_validity_days: int
    tier_window_days: int
    tier_review_days: int
    tier_grace_days: int
    rule_version: int | None
    rules_effective_from: datetime | None
    rules: Any


class Tier(BaseModel):
    """A tier: reached when ``metric`` over the tier window reaches ``threshold``."""

    id: int
    code: str
    name: str
    rank: int
    metric: str
    threshold: int
    earn_multiplier_pct: int
    benefits: dict[str, Any]
    accounts: int | None = PydanticField(default=None, description="Accounts in the tier now")


class Reward(BaseModel):
    """A reward of the catalogue."""

    id: int
    code: str
    name: str
    cost_points: int
    stock: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    per_customer_limit: int | None
    min_tier_rank: int | None
    active: bool
    redemptions: int = PydanticField(description="Redemptions issued and not cancelled")


class Totals(BaseModel):
    """Program totals in points (a point's money value is not defined by the program)."""

    accounts: int
    issued: int = PydanticField(description="Earned, pending included")
    redeemed: int = PydanticField(description="Spent on rewards, less cancelled redemptions")
    expired: int
    reversed: int = PydanticField(description="Taken back after returns")
    adjusted: int
    balance: int
    pending: int
    outstanding: int = PydanticField(description="The liability: balance + pending")
    debt: int


class Balance(BaseModel):
    """A customer's points (zeros before the first earn)."""

    program_id: int
    customer_id: int
    account_id: int | None
    balance: int
    pending: int = PydanticField(description="Earned, released after the return window")
    debt: int = PydanticField(description="Points owed after returns of spent points")
    tier: Tier | None


class Movement(BaseModel):
    """One ledger line (append-only)."""

    id: int
    kind: str
    points: int
    pending_delta: int
    debt_delta: int
    order_id: int | None
    redemption_id: int | None
    note: str | None
    created_at: datetime


class History(BaseModel):
    """A page of ledger lines, newest first."""

    items: list[Movement]
    limit: int
    offset: int


class SimLine(BaseModel):
    """A hypothetical order line (amount net of discounts, without freight)."""

    model_config = ConfigDict(extra="forbid")
    amount_minor: int = PydanticField(ge=0, le=10**12)
    product_id: int | None = PydanticField(default=None, ge=1, le=MAX_ID)
    category: str | None = PydanticField(default=None, max_length=120)


class SimulateIn(BaseModel):
    """A stored order (``order_id``) or a hypothetical one (``customer_id`` + ``lines``)."""

    model_config = ConfigDict(extra="forbid")
    order_id: int | None = PydanticField(default=None, ge=1, le=MAX_ID)
    customer_id: int | None = PydanticField(default=None, ge=1, le=MAX_ID)
    purchased_at: datetime | None = None
    previous_orders: int = PydanticField(default=0, ge=0, le=1_000_000)
    lines: list[SimLine] = PydanticField(default_factory=list, max_length=1000)


class SimulationOut(BaseModel):
    """What the order earns and why (nothing is written)."""

    points: int
    rule_version: int | None
    explanation: list[str]


class EarnOut(BaseModel):
    """The result of earning an order's points (``duplicate``: earned before)."""

    duplicate: bool
    account_id: int
    points: int
    state: str
    lot_id: int | None
    movement_id: int | None
    rule_version: int | None


class RedeemIn(BaseModel):
    """Redeem ``reward_code`` for ``customer_id``."""

    model_config = ConfigDict(extra="forbid")
    customer_id: int = PydanticField(ge=1, le=MAX_ID)
    reward_code: str = PydanticField(min_length=1, max_length=64)
    request_key: str | None = PydanticField(
        default=None,
        min_length=1,
        max_length=100,
        description="Makes the redemption idempotent (default: the Idempotency-Key header)",
    )


class RedemptionOut(BaseModel):
    """A redemption and its coupon."""

    duplicate: bool
    account_id: int
    redemption_id: int
    reward_id: int
    points: int
    coupon_code: str
    status: str


def _brand_order(session: Session, *, brand_id: int, order_id: int) -> Order:
    order = session.get(Order, order_id)
    if order is None or order.brand_id != brand_id:
        raise NotFound(f"order {order_id} not found", field="order_id")
    return order


@router.get(
    "/program", operation_id="loyalty_program", response_model=Program, responses=READ_ERRORS
)
def get_program(brand: LoyaltyBrand, session: ReadSession) -> Program:
    """The brand's active program and its rules in force now."""
    program = q.brand_program(session, brand_id=brand.id)
    return Program(**q.program_config(session, program=program, now=utcnow()))


@router.get(
    "/summary", operation_id="loyalty_summary", response_model=Totals, responses=READ_ERRORS
)
def summary(brand: LoyaltyBrand, session: ReadSession) -> Totals:
    """Points issued, redeemed, expired and outstanding (the dashboard's loyalty page)."""
    program = q.brand_program(session, brand_id=brand.id)
    return Totals(**q.program_totals(session, program=program))


@router.get(
    "/tiers", operation_id="loyalty_tiers", response_model=list[Tier], responses=READ_ERRORS
)
def tiers(brand: LoyaltyBrand, session: ReadSession) -> list[Tier]:
    """Tiers, best first, with the number of accounts in each."""
    program = q.brand_program(session, brand_id=brand.id)
    return [Tier(**t) for t in q.tiers_with_members(session, program=program)]


@router.get(
    "/rewards", operation_id="loyalty_rewards", response_model=list[Reward], responses=READ_ERRORS
)
def rewards(brand: LoyaltyBrand, session: ReadSession) -> list[Reward]:
    """The reward catalogue (cheapest first)."""
    program = q.brand_program(session, brand_id=brand.id)
    return [Reward(**r) for r in q.rewards(session, program=program)]


@router.get(
    "/analytics",
    operation_id="loyalty_analytics",
    response_model=ProgramAnalytics,
    responses=READ_ERRORS,
)
def analytics(brand: LoyaltyBrand, session: ReadSession, request: Request) -> ProgramAnalytics:
    """Redemption rate, breakage, liability, engagement per mechanic, CLTV by tier."""
    program = q.brand_program(session, brand_id=brand.id)
    return program_analytics(
        session,
        program_id=program.id,
        now=utcnow(),
        point_value_minor_per_1000=request.app.state.settings.point_value_minor_per_1000,
    )


@router.get(
    "/customers/{customer_id}",
    operation_id="loyalty_balance",
    response_model=Balance,
    responses=READ_ERRORS,
)
def balance(customer_id: CustomerId, brand: LoyaltyBrand, session: ReadSession) -> Balance:
    """The customer's balance, pending points, debt and tier."""
    program = q.brand_program(session, brand_id=brand.id)
    customer = visible_customer(session, brand_id=brand.id, customer_id=customer_id)
    view = q.account_view(session, program=program, customer_id=customer.id, now=utcnow())
    return Balance(**view)


@router.get(
    "/customers/{customer_id}/points",
    operation_id="loyalty_points_as_of",
    response_model=PointsAsOf,
    responses=READ_ERRORS,
)
def points(customer_id: CustomerId, brand: LoyaltyBrand, session: ReadSession) -> PointsAsOf:
    """Available, pending (with release dates) and expiring-soon points, as of now."""
    program = q.brand_program(session, brand_id=brand.id)
    customer = visible_customer(session, brand_id=brand.id, customer_id=customer_id)
    return points_as_of(session, program_id=program.id, customer_id=customer.id, now=utcnow())


@router.get(
    "/customers/{customer_id}/history",
    operation_id="loyalty_history",
    response_model=History,
    responses=READ_ERRORS,
)
def history(
    customer_id: CustomerId,
    brand: LoyaltyBrand,
    session: ReadSession,
    limit: Limit = 50,
    offset: Offset = 0,
) -> History:
    """The customer's ledger, newest first."""
    program = q.brand_program(session, brand_id=brand.id)
    customer = visible_customer(session, brand_id=brand.id, customer_id=customer_id)
    items = q.history(session, program=program, customer_id=customer.id, limit=limit, offset=offset)
    # In a coalition the ledger holds other brands' orders: their ids are not this brand's
    # to see (the points are, as part of the shared balance).
    order_ids = {m["order_id"] for m in items if m["order_id"] is not None}
    own = set(
        session.scalars(select(Order.id).where(Order.id.in_(order_ids), Order.brand_id == brand.id))
    )
    for m in items:
        if m["order_id"] not in own:
            m["order_id"] = None
    return History(items=[Movement(**m) for m in items], limit=limit, offset=offset)


@router.post(
    "/simulate",
    operation_id="loyalty_simulate",
    response_model=SimulationOut,
    responses=WRITE_ERRORS,
)
def simulate_order(body: SimulateIn, brand: LoyaltyBrand, session: ReadSession) -> SimulationOut:
    """What a stored or hypothetical order would earn, line by line (writes nothing)."""
    program = q.brand_program(session, brand_id=brand.id)
    if body.order_id is not None:
        order = _brand_order(session, brand_id=brand.id, order_id=body.order_id)
        result = simulate(session, program_id=program.id, order_id=order.id)
    else:
        if body.customer_id is None or not body.lines:
            raise InvalidInput("give order_id, or customer_id with lines", field="order_id")
        customer = visible_customer(session, brand_id=brand.id, customer_id=body.customer_id)
        snapshot = OrderSnapshot(
            order_id=None,
            customer_id=customer.id,
            purchased_at=body.purchased_at or utcnow(),
            lines=tuple(
                OrderLine(
                    line_number=i,
                    amount_minor=line.amount_minor,
                    product_id=line.product_id,
                    category=line.category,
                )
                for i, line in enumerate(body.lines, start=1)
            ),
            previous_orders=body.previous_orders,
        )
        result = simulate(session, program_id=program.id, order=snapshot)
    return SimulationOut(
        points=result.points, rule_version=result.rule_version, explanation=result.explanation
    )


@router.post(
    "/orders/{order_id}/earn",
    operation_id="loyalty_earn_order",
    response_model=EarnOut,
    responses=WRITE_ERRORS,
)
def earn(order_id: OrderId, writer: LoyaltyWriter) -> BaseModel | Response:
    """Earn the order's points once (a repeat returns the first result, ``duplicate``)."""
    declined = False
    if not claimed() and server_side.applies_to(writer.engine):
        done, declined = _earn_in_one_call(order_id, writer)
        if done is not None:
            return done
    with (
        server_side.python_path() if declined else nullcontext(),
        writer.unit_of_work() as (session, brand),
    ):
        if (stored := replay_in(session)) is not None:
            return stored
        program_id, customer_id = earn_target(session, brand_id=brand.id, order_id=order_id)
        result = earn_for_order(session, program_id=program_id, order_id=order_id)
        reevaluate_loyalty(session, brand.id, [customer_id])
        return record_in(session, EarnOut.model_validate(result, from_attributes=True))


def _earn_in_one_call(order_id: int, writer: BrandWriter) -> tuple[EarnOut | None, bool]:
    """PostgreSQL, no ``Idempotency-Key`` to record and no active segment of the brand
    testing a loyalty field (nothing else to write with the earn): the earn committed as
    its function's one call, in autocommit, after two prepared reads — 3 round trips
    instead of 5 (``BEGIN``, ``COMMIT``). Returns the answer, or ``None`` when the unit of
    work must run instead, and whether the function declined (a branch it leaves to
    Python: it changed nothing, and the unit of work takes the Python path at once)."""
    with writer.autocommit() as (session, brand):
        # Read first, as the unit of work reads it after the earn: a segment published
        # before this request began is seen (docs/segments.md, "Who calls it").
        if loyalty_reevaluation_due(session, brand.id):
            return None, False
        program_id, _ = earn_target(session, brand_id=brand.id, order_id=order_id)
        result = earn_in_one_call(session, program_id=program_id, order_id=order_id, now=utcnow())
    if result is None:
        return None, True
    return EarnOut.model_validate(result, from_attributes=True), False


@router.post(
    "/redemptions",
    operation_id="loyalty_redeem",
    response_model=RedemptionOut,
    status_code=201,
    responses=WRITE_ERRORS,
)
def redeem_reward(
    body: RedeemIn,
    writer: LoyaltyWriter,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> BaseModel | Response:
    """Spend points on a reward; answers the coupon code."""
    key = body.request_key or idempotency_key or f"api-{uuid.uuid4()}"
    with writer.unit_of_work() as (session, brand):
        if (stored := replay_in(session)) is not None:
            return stored
        program_id = active_program_id(session, brand_id=brand.id)
        customer = visible_customer(session, brand_id=brand.id, customer_id=body.customer_id)
        try:
            result = redeem(
                session,
                program_id=program_id,
                customer_id=customer.id,
                reward_code=body.reward_code,
                request_key=key,
                brand_id=brand.id,
            )
        except TierRequired as exc:
            raise TierRequiredConflict(exc.message, field="reward_code") from exc
        reevaluate_loyalty(session, brand.id, [customer.id])
        answer = RedemptionOut.model_validate(result, from_attributes=True)
        return record_in(session, answer, status=201)


@router.post(
    "/redemptions/{coupon_code}/cancel",
    operation_id="loyalty_cancel_redemption",
    response_model=RedemptionOut,
    responses=WRITE_ERRORS,
)
def cancel(coupon_code: CouponCode, writer: LoyaltyWriter) -> BaseModel | Response:
    """Cancel a redemption: points and stock come back (a repeat is ``duplicate``)."""
    with writer.unit_of_work() as (session, brand):
        if (stored := replay_in(session)) is not None:
            return stored
        program_id = active_program_id(session, brand_id=brand.id)
        result = cancel_redemption(session, program_id=program_id, coupon_code=coupon_code)
        holder = session.get_one(LoyaltyAccount, result.account_id).customer_id
        reevaluate_loyalty(session, brand.id, [holder])
        return record_in(session, RedemptionOut.model_validate(result, from_attributes=True))


# One transaction per keyed write: these endpoints record their Idempotency-Key in their
# own unit of work (api/idempotency.py).
for _route in router.routes:
    if isinstance(_route, APIRoute) and _route.name in {"earn", "redeem_reward", "cancel"}:
        records_in_unit_of_work(_route.path_regex)
