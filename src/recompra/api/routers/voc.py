"""Voice of the customer: NPS proxy and CSAT with CIs, delivery experience, comment topics,
and the proxy's star mapping."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from recompra.api.deps import AdminBrand, OneHopRoute, ReadBrand, ReadSession, WriteSession
from recompra.api.errors import READ_ERRORS
from recompra.voc.flows import NPS_DIMENSIONS
from recompra.voc.service import brand_delivery, brand_nps, brand_survey_nps, brand_topics
from recompra.voc.settings import set_star_mapping, star_mapping

router = APIRouter(prefix="/v1/voc", tags=["voice of the customer"], route_class=OneHopRoute)


class StarMappingIn(BaseModel):
    """Stars ``>= promoter_min`` are promoters, ``<= detractor_max`` detractors."""

    promoter_min: int = Field(ge=1, le=5, description="Fewest stars of a promoter")
    detractor_max: int = Field(ge=1, le=5, description="Most stars of a detractor")


class StarMappingOut(BaseModel):
    """The NPS proxy's mapping: the stars of each category."""

    promoter: list[int]
    passive: list[int]
    detractor: list[int]


@router.get("/nps", operation_id="voc_nps", responses=READ_ERRORS)
def nps(
    brand: ReadBrand,
    session: ReadSession,
    by: Annotated[
        str | None,
        Query(
            max_length=32,
            description="Cut the scores by this dimension",
            json_schema_extra={"enum": list(NPS_DIMENSIONS)},
        ),
    ] = None,
) -> dict[str, Any]:
    """NPS proxy from review stars and CSAT, with 95% CIs, N, the star mapping, responses
    needed for ±3/±5/±10 points and (by month) changes flagged only when significant;
    ``surveys``: the NPS of the brand's NPS survey answers (not a proxy), or null."""
    surveys = brand_survey_nps(session, brand_id=brand.id)
    return {
        **brand_nps(session, brand_id=brand.id, by=by).as_dict(),
        "surveys": None if surveys is None else surveys.as_dict(),
    }


@router.get("/delivery", operation_id="voc_delivery", responses=READ_ERRORS)
def delivery(brand: ReadBrand, session: ReadSession) -> dict[str, Any]:
    """NPS proxy and CSAT of on-time vs late deliveries, by state and by seller."""
    return brand_delivery(session, brand_id=brand.id).as_dict()


@router.get("/topics", operation_id="voc_topics", responses=READ_ERRORS)
def topics(brand: ReadBrand, session: ReadSession) -> dict[str, Any]:
    """Topic tags of the comments, their share of negative comments and monthly counts."""
    return brand_topics(session, brand_id=brand.id).as_dict()


@router.get(
    "/mapping", operation_id="voc_mapping_get", response_model=StarMappingOut, responses=READ_ERRORS
)
def mapping(brand: ReadBrand, session: ReadSession) -> StarMappingOut:
    """The brand's star -> NPS category mapping of the proxy."""
    return StarMappingOut(**star_mapping(session, brand_id=brand.id).as_dict())


@router.put(
    "/mapping", operation_id="voc_mapping_set", response_model=StarMappingOut, responses=READ_ERRORS
)
def set_mapping(body: StarMappingIn, brand: AdminBrand, session: WriteSession) -> StarMappingOut:
    """Store the brand's mapping (admin scope); refused unless detractor < promoter stars."""
    stored = set_star_mapping(
        session,
        brand_id=brand.id,
        promoter_min=body.promoter_min,
        detractor_max=body.detractor_max,
    )
    return StarMappingOut(**stored.as_dict())
