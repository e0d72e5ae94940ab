"""The shopper's page through the API, for stores that embed it (no API key).

A shopper signs in with the one-time e-mail link (``POST /v1/shopper/sign-in``, then
``POST /v1/shopper/sessions`` with the link's token) and sends the session token as
``Authorization: Bearer <token>``. Every read and action is the session's customer at
the session's brand: no route takes a customer id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from recompra.api.deps import OneHopRoute, ReadSession, WriteSession
from recompra.api.errors import error_responses
from recompra.automation.settings import AutomationSettings, decision_context
from recompra.loyalty.ledger.results import RedemptionResult
from recompra.loyalty.quizzes.service import AttemptResult
from recompra.loyalty.referrals.service import ClaimResult
from recompra.models.base import utcnow
from recompra.shopper.actions import claim_code, my_referral_code, redeem_for_shopper, take_quiz
from recompra.shopper.signin import (
    Shopper,
    brand_by_slug,
    close_session,
    open_session,
    request_link,
    shopper_of,
)
from recompra.shopper.summary import ShopperPage, shopper_page

router = APIRouter(prefix="/v1/shopper", tags=["shopper"], route_class=OneHopRoute)

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <shopper token>`")
Token = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
SIGNED_IN_ERRORS = error_responses(400, 401, 404, 409)


class _In(BaseModel):
    # A body naming a customer (or anything unknown) is refused, not ignored.
    model_config = ConfigDict(extra="forbid")


class SignInIn(_In):
    """Which brand's page and which address to mail a link to."""

    brand: str = Field(min_length=1, max_length=64, description="The brand's slug")
    email: str = Field(min_length=3, max_length=320)


class SignInOut(BaseModel):
    """The same answer whether or not the address is a customer's."""

    status: str = "sent_if_known"


class SessionIn(_In):
    """The token of a sign-in link (spent by this call)."""

    brand: str = Field(min_length=1, max_length=64)
    token: str = Field(min_length=10, max_length=300)


class SessionOut(BaseModel):
    """A shopper session: send ``token`` as a bearer token."""

    token: str
    expires_at: str


class AttemptIn(_In):
    """One answer (option index) per question."""

    answers: list[int] = Field(max_length=50)


class RedeemIn(_In):
    """A reward or experience code, and a key that makes a retry redeem once."""

    reward_code: str = Field(min_length=1, max_length=64)
    request_key: str = Field(min_length=1, max_length=64)


class ClaimIn(_In):
    """A friend's referral code."""

    code: str = Field(min_length=1, max_length=32)


class CodeOut(BaseModel):
    """The shopper's referral code."""

    code: str


def _shopper(token: Token, session: ReadSession) -> Shopper:
    return shopper_of(session, token=token.credentials if token else None, now=utcnow())


SignedIn = Annotated[Shopper, Depends(_shopper)]


@router.post(
    "/sign-in",
    operation_id="shopper_sign_in",
    status_code=202,
    responses=error_responses(400, 404, 429),
)
def sign_in(body: SignInIn, request: Request, session: WriteSession) -> SignInOut:
    """Mail a one-time sign-in link if the address is the brand's customer's (same answer
    either way)."""
    links = decision_context(request.app.state.settings, AutomationSettings())
    brand = brand_by_slug(session, body.brand)
    request_link(session, brand=brand, email=body.email, links=links, now=utcnow())
    return SignInOut()


@router.post(
    "/sessions", operation_id="shopper_open_session", status_code=201, responses=SIGNED_IN_ERRORS
)
def open_shopper_session(body: SessionIn, request: Request, session: WriteSession) -> SessionOut:
    """Spend a sign-in link's token for a session token."""
    brand = brand_by_slug(session, body.brand)
    token, shopper = open_session(
        session,
        brand=brand,
        token=body.token,
        secret=request.app.state.settings.secret_key,
        now=utcnow(),
    )
    return SessionOut(token=token, expires_at=shopper.expires_at.isoformat())


@router.delete(
    "/session", operation_id="shopper_close_session", status_code=204, responses=SIGNED_IN_ERRORS
)
def close_shopper_session(shopper: SignedIn, token: Token, session: WriteSession) -> Response:
    """Sign out: the token stops working."""
    assert token is not None  # SignedIn refused a missing one
    close_session(session, token=token.credentials, now=utcnow())
    return Response(status_code=204)


@router.get("/me", operation_id="shopper_page", responses=SIGNED_IN_ERRORS)
def me(shopper: SignedIn, session: ReadSession) -> ShopperPage:
    """Points (available, pending with release dates, expiring soon), tier and progress,
    challenges, badges, quizzes, referral code, rewards, experiences, the company pool."""
    return shopper_page(session, shopper=shopper, now=utcnow())


@router.post(
    "/quizzes/{code}/attempts",
    operation_id="shopper_quiz_attempt",
    status_code=201,
    responses=SIGNED_IN_ERRORS,
)
def quiz_attempt(
    code: str, body: AttemptIn, shopper: SignedIn, session: WriteSession
) -> AttemptResult:
    """Take a quiz (once per period; 409 on a second attempt)."""
    return take_quiz(session, shopper=shopper, quiz_code=code, answers=body.answers, now=utcnow())


@router.post(
    "/redemptions", operation_id="shopper_redeem", status_code=201, responses=SIGNED_IN_ERRORS
)
def redemption(body: RedeemIn, shopper: SignedIn, session: WriteSession) -> RedemptionResult:
    """Redeem a reward or an experience with the shopper's (or their company's) points."""
    return redeem_for_shopper(
        session,
        shopper=shopper,
        reward_code=body.reward_code,
        request_key=body.request_key,
        now=utcnow(),
    )


@router.post("/referral-code", operation_id="shopper_referral_code", responses=SIGNED_IN_ERRORS)
def referral(shopper: SignedIn, session: WriteSession) -> CodeOut:
    """The shopper's referral code (created on first ask)."""
    return CodeOut(code=my_referral_code(session, shopper=shopper, now=utcnow()))


@router.post(
    "/referral-claims",
    operation_id="shopper_referral_claim",
    status_code=201,
    responses=SIGNED_IN_ERRORS,
)
def referral_claim(body: ClaimIn, shopper: SignedIn, session: WriteSession) -> ClaimResult:
    """Claim a friend's code: ``claimed``, or ``rejected`` with the fraud guard's reason."""
    return claim_code(session, shopper=shopper, code=body.code, now=utcnow())
