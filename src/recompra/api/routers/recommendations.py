"""Recommendations: frequently bought together for a product, next-best-offer for a customer.

Served from the precomputed tables of ``recompra recommend refresh`` (see
:mod:`recompra.reads.recommendations`); 404 ``not_computed`` until they exist.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.api.deps import CustomerId, ProductId, ReadBrand, ReadSession
from recompra.api.errors import AUTH_ERRORS, error_responses
from recompra.errors import NotFound
from recompra.models import Product
from recompra.reads.customers import visible_customer
from recompra.reads.recommendations import brand_index
from recompra.recommend import RecommendationIndex, Suggestion

router = APIRouter(prefix="/v1", tags=["recommendations"])

_ERRORS = error_responses(400, *AUTH_ERRORS, 404)
NOT_COMPUTED = "recommendations not computed yet: run recompra recommend refresh"

Language = Literal["pt-BR", "en"]
K = Annotated[int, Query(ge=1, le=50, description="How many suggestions")]
Lang = Annotated[Language, Query(description="Language of names and explanations")]


class NotComputed(NotFound):
    """The recommendation tables of the brand have not been computed."""

    code = "not_computed"


class Recommendation(BaseModel):
    """A suggested product with the evidence behind it, explained in words."""

    product_id: int
    name: str
    score: float
    offer_type: str = Field(description="cross_sell, repurchase, upsell or popular")
    incentive: str = Field(description="none, loyalty_points, free_shipping or discount")
    reason: str = Field(description="The kind of evidence (bought_together, popular...)")
    explanation: str


class Recommendations(BaseModel):
    """Suggestions, best first."""

    items: list[Recommendation]


def _index(request: Request, session: Session, brand_id: int) -> RecommendationIndex:
    index = brand_index(session, request.app.state.recommendations_root, brand_id)
    if index is None:
        raise NotComputed(NOT_COMPUTED)
    return index


def _brand_products(session: Session, brand_id: int, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    return set(
        session.scalars(select(Product.id).where(Product.brand_id == brand_id, Product.id.in_(ids)))
    )


def _render(
    session: Session,
    index: RecommendationIndex,
    brand_id: int,
    suggestions: list[Suggestion],
    lang: Language,
) -> Recommendations:
    # The tables are computed per brand; filtering again keeps a misplaced directory from
    # showing another brand's products.
    mine = _brand_products(session, brand_id, [s.item_id for s in suggestions])
    return Recommendations(
        items=[
            Recommendation(
                product_id=s.item_id,
                name=index.item_name(s.item_id, lang),
                score=s.score,
                offer_type=s.offer_type,
                incentive=s.incentive,
                reason=s.evidence.reason,
                explanation=s.explanation(lang),
            )
            for s in suggestions
            if s.item_id in mine
        ]
    )


@router.get(
    "/products/{product_id}/bought-together",
    operation_id="products_bought_together",
    response_model=Recommendations,
    responses=_ERRORS,
)
def bought_together(
    product_id: ProductId,
    request: Request,
    brand: ReadBrand,
    session: ReadSession,
    k: K = 10,
    lang: Lang = "pt-BR",
) -> Recommendations:
    """Products most often bought in the same order as this one."""
    owner = session.scalar(select(Product.brand_id).where(Product.id == product_id))
    if owner != brand.id:
        raise NotFound(f"product {product_id} not found", field="product_id")
    index = _index(request, session, brand.id)
    return _render(session, index, brand.id, index.for_product(product_id, k), lang)


@router.get(
    "/customers/{customer_id}/next-best-offer",
    operation_id="customers_next_best_offer",
    response_model=Recommendations,
    responses=_ERRORS,
)
def next_best_offer(
    customer_id: CustomerId,
    request: Request,
    brand: ReadBrand,
    session: ReadSession,
    k: K = 10,
    lang: Lang = "pt-BR",
) -> Recommendations:
    """The customer's next best offers, explained (best sellers for a new customer)."""
    customer = visible_customer(session, brand_id=brand.id, customer_id=customer_id)
    index = _index(request, session, brand.id)
    return _render(session, index, brand.id, index.for_customer(customer.id, k), lang)
