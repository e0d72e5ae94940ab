"""Recommendations: frequently bought together for a product, next-best-offer for a customer.

Served from the precomputed tables of ``recompra recommend refresh`` (see
:mod:`recompra.reads.recommendations`); 404 ``not_computed`` until they exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.api.deps import CustomerId, OneHopRoute, ProductId, ReadBrand, ReadSession
from recompra.api.errors import AUTH_ERRORS, error_responses
from recompra.errors import NotFound
from recompra.models import Product
from recompra.reads.customers import visible_customer
from recompra.reads.recommendations import brand_index
from recompra.recommend import RecommendationIndex, Suggestion

router = APIRouter(prefix="/v1", tags=["recommendations"], route_class=OneHopRoute)

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


@dataclass(frozen=True)
class _Asked:
    """What both endpoints need: the brand's read session, list size and language."""

    request: Request
    session: Session
    brand_id: int
    k: int
    lang: Language

    def index(self) -> RecommendationIndex:
        """The brand's precomputed tables (404 ``not_computed`` until refreshed)."""
        root = self.request.app.state.recommendations_root
        index = brand_index(self.session, root, self.brand_id)
        if index is None:
            raise NotComputed(NOT_COMPUTED)
        return index

    def render(self, index: RecommendationIndex, suggestions: list[Suggestion]) -> Recommendations:
        """The suggestions of this brand's products, named and explained in ``lang``."""
        # The tables are computed per brand; filtering again keeps a misplaced directory from
        # showing another brand's products.
        mine = _brand_products(self.session, self.brand_id, [s.item_id for s in suggestions])
        return Recommendations(
            items=[
                Recommendation(
                    product_id=s.item_id,
                    name=index.item_name(s.item_id, self.lang),
                    score=s.score,
                    offer_type=s.offer_type,
                    incentive=s.incentive,
                    reason=s.evidence.reason,
                    explanation=s.explanation(self.lang),
                )
                for s in suggestions
                if s.item_id in mine
            ]
        )


async def _asked(  # async: no I/O, so no thread-pool hop
    request: Request, brand: ReadBrand, session: ReadSession, k: K = 10, lang: Lang = "pt-BR"
) -> _Asked:
    return _Asked(request=request, session=session, brand_id=brand.id, k=k, lang=lang)


Asked = Annotated[_Asked, Depends(_asked)]


def _brand_products(session: Session, brand_id: int, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    return set(
        session.scalars(select(Product.id).where(Product.brand_id == brand_id, Product.id.in_(ids)))
    )


@router.get(
    "/products/{product_id}/bought-together",
    operation_id="products_bought_together",
    response_model=Recommendations,
    responses=_ERRORS,
)
def bought_together(product_id: ProductId, asked: Asked) -> Recommendations:
    """Products most often bought in the same order as this one."""
    owner = asked.session.scalar(select(Product.brand_id).where(Product.id == product_id))
    if owner != asked.brand_id:
        raise NotFound(f"product {product_id} not found", field="product_id")
    index = asked.index()
    return asked.render(index, index.for_product(product_id, asked.k))


@router.get(
    "/customers/{customer_id}/next-best-offer",
    operation_id="customers_next_best_offer",
    response_model=Recommendations,
    responses=_ERRORS,
)
def next_best_offer(customer_id: CustomerId, asked: Asked) -> Recommendations:
    """The customer's next best offers, explained (best sellers for a new customer)."""
    customer = visible_customer(asked.session, brand_id=asked.brand_id, customer_id=customer_id)
    index = asked.index()
    return asked.render(index, index.for_customer(customer.id, asked.k))
