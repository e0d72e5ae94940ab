"""Live segments: definitions (versioned), preview, members (paged, CSV), membership
history and the entry/exit event feed, goals with progress.

Reading needs the ``read`` scope; writing definitions, evaluating, archiving and setting
goals need ``admin``. A definition is the JSON form of the YAML file
(``docs/segments.md``); a refused definition answers 400 listing every problem with the
path of its node.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select

from recompra.api.deps import (
    AdminBrand,
    CustomerId,
    EngineDep,
    Limit,
    Offset,
    OneHopRoute,
    ReadBrand,
    ReadSession,
    WriteSession,
)
from recompra.api.errors import READ_ERRORS, WRITE_ERRORS, error_responses
from recompra.db import unit_of_work
from recompra.db.commit_order import Position
from recompra.errors import MalformedCursor, NotFound
from recompra.models import BrandCustomer
from recompra.segments import queries as q
from recompra.segments.definition import definition_to_json, parse_definition
from recompra.segments.flows import EXPORT_COLUMNS, export_row, members_file
from recompra.segments.goals import GoalProgress, goal_progress, goals_of, set_goal
from recompra.segments.service import (
    apply_definition,
    archive_segment,
    current_version,
    definition_of,
    evaluate_segment,
    get_segment,
)
from recompra.spreadsheets import XLSX_MEDIA_TYPE, csv_chunks, file_chunks

router = APIRouter(prefix="/v1/live-segments", tags=["live segments"], route_class=OneHopRoute)


SegmentKey = Annotated[str, Path(min_length=1, max_length=64, description="Segment key")]
Definition = Annotated[
    dict[str, Any],
    Body(
        description="A segment definition: key, name {pt-BR, en}, optional description, "
        "rule (money in currency units)",
        examples=[
            {
                "key": "sp_valuable",
                "name": {"pt-BR": "SP valiosos", "en": "SP valuable"},
                "rule": {
                    "all": [
                        {"field": "state", "op": "eq", "value": "SP"},
                        {"field": "net_revenue", "op": "gte", "value": 500.0},
                    ]
                },
            }
        ],
    ),
]


class VersionOut(BaseModel):
    """One version of a definition (the rule as stored: money in minor units)."""

    version: int
    name_pt: str
    name_en: str
    created_at: datetime
    rule: dict[str, Any]


class SegmentDetail(BaseModel):
    """A segment, its definition in force (money in currency units) and its versions."""

    segment: q.SegmentSummary
    definition: dict[str, Any]
    versions: list[VersionOut]


class ApplyOut(BaseModel):
    """What applying a definition did: created, a new version, who entered and exited."""

    key: str
    version: int
    created: bool
    changed: bool
    members: int | None
    entered: int | None
    exited: int | None


class MemberPage(BaseModel):
    """A page of members."""

    total: int
    limit: int
    offset: int
    items: list[q.MemberRow]


class GoalIn(BaseModel):
    """A goal: KPI, period (``2026-Q2``, ``2026-05`` or ``2026``), target (rates as shares,
    money in currency units)."""

    kpi: str
    period: str
    target: float
    note: str | None = None


@router.get(
    "",
    operation_id="live_segments_list",
    response_model=list[q.SegmentSummary],
    responses=READ_ERRORS,
)
def list_segments(
    brand: ReadBrand, session: ReadSession, archived: bool = False
) -> list[q.SegmentSummary]:
    """The brand's segments (archived ones too with ``archived=true``)."""
    return q.list_segments(session, brand_id=brand.id, include_archived=archived)


@router.post(
    "", operation_id="live_segments_apply", response_model=ApplyOut, responses=WRITE_ERRORS
)
def apply(
    document: Definition, brand: AdminBrand, session: WriteSession, response: Response
) -> ApplyOut:
    """Create a segment or add a version (when anything changed), then evaluate it."""
    result = apply_definition(session, brand_id=brand.id, definition=parse_definition(document))
    response.status_code = 201 if result.created else 200
    diff = result.diff
    return ApplyOut(
        key=result.segment.key,
        version=result.version,
        created=result.created,
        changed=result.changed,
        members=diff.members if diff else None,
        entered=len(diff.entered) if diff else None,
        exited=len(diff.exited) if diff else None,
    )


@router.post(
    "/preview",
    operation_id="live_segments_preview",
    response_model=q.Preview,
    responses=READ_ERRORS,
)
def preview(
    document: Definition,
    brand: ReadBrand,
    session: ReadSession,
    sample: Annotated[int, Query(ge=0, le=100)] = 20,
) -> q.Preview:
    """What a definition would select now, without saving it."""
    rule = parse_definition(document).rule
    return q.preview(session, brand_id=brand.id, rule=rule, sample=sample)


@router.get(
    "/events",
    operation_id="live_segments_events",
    response_model=q.MembershipEventPage,
    responses=READ_ERRORS | error_responses(422),
)
def events(
    brand: ReadBrand,
    session: ReadSession,
    cursor: Annotated[
        str | None,
        Query(description="The `cursor` of the previous page, unchanged; none: the oldest"),
    ] = None,
    limit: Limit = 500,
    after: Annotated[int | None, Query(include_in_schema=False)] = None,
) -> q.MembershipEventPage:
    """Entry and exit events past the cursor, oldest first (the journeys' feed), and the
    cursor of the next page."""
    if after is not None:
        # The integer cursor could skip an event committed late; refused rather than
        # ignored, so an old client does not silently restart from the oldest event.
        raise MalformedCursor(
            "`after` is no longer accepted: page with the opaque `cursor` each page returns "
            "(start without one to read from the oldest event)",
            field="after",
        )
    position = Position.decode(cursor) if cursor is not None else Position()
    return q.events_since(session, brand_id=brand.id, after=position, limit=limit)


@router.get(
    "/customers/{customer_id}",
    operation_id="live_segments_customer_history",
    response_model=list[q.MembershipEventRow],
    responses=READ_ERRORS,
)
def customer_history(
    customer_id: CustomerId, brand: ReadBrand, session: ReadSession
) -> list[q.MembershipEventRow]:
    """A customer's entries into and exits from the brand's segments, oldest first."""
    linked = session.scalar(
        select(BrandCustomer.customer_id).where(
            BrandCustomer.brand_id == brand.id, BrandCustomer.customer_id == customer_id
        )
    )
    if linked is None:
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    return q.customer_history(session, brand_id=brand.id, customer_id=customer_id)


@router.get(
    "/{key}", operation_id="live_segments_get", response_model=SegmentDetail, responses=READ_ERRORS
)
def get(key: SegmentKey, brand: ReadBrand, session: ReadSession) -> SegmentDetail:
    """A segment, its definition in force and every version."""
    segment = get_segment(session, brand_id=brand.id, key=key)
    version = current_version(session, segment)
    (summary,) = q.list_segments(session, brand_id=brand.id, include_archived=True, key=key)
    return SegmentDetail(
        segment=summary,
        definition=definition_to_json(definition_of(version, key)),
        versions=[
            VersionOut(
                version=v.version,
                name_pt=v.name_pt,
                name_en=v.name_en,
                created_at=v.created_at,
                rule=v.rule,
            )
            for v in q.versions_of(session, segment)
        ],
    )


@router.get(
    "/{key}/members",
    operation_id="live_segments_members",
    response_model=MemberPage,
    responses=READ_ERRORS,
)
def members(
    key: SegmentKey,
    brand: ReadBrand,
    session: ReadSession,
    limit: Limit = 100,
    offset: Offset = 0,
    state: Annotated[str | None, Query(max_length=2, description="Only this state")] = None,
    version: Annotated[int | None, Query(ge=1, description="Put in by this version")] = None,
) -> MemberPage:
    """The segment's members by customer id, paged and optionally filtered."""
    total, rows = q.members_page(
        session,
        brand_id=brand.id,
        key=key,
        limit=limit,
        offset=offset,
        state=state,
        version=version,
    )
    return MemberPage(total=total, limit=limit, offset=offset, items=rows)


@router.get(
    "/{key}/members.csv",
    operation_id="live_segments_members_csv",
    response_class=StreamingResponse,
    responses={**READ_ERRORS, 200: {"content": {"text/csv": {}}}},
)
def members_csv(key: SegmentKey, brand: ReadBrand, engine: EngineDep) -> StreamingResponse:
    """Every member as CSV (streamed; money in currency units)."""
    with unit_of_work(engine, write=False) as session:
        get_segment(session, brand_id=brand.id, key=key)  # 404 before streaming

    def lines() -> Iterator[str]:
        with unit_of_work(engine, write=False) as session:
            rows = (export_row(r) for r in q.iter_members(session, brand_id=brand.id, key=key))
            yield from csv_chunks(EXPORT_COLUMNS, rows)

    return StreamingResponse(
        lines(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{key}.csv"'},
    )


@router.get(
    "/{key}/members.xlsx",
    operation_id="live_segments_members_xlsx",
    response_class=StreamingResponse,
    responses={**READ_ERRORS, 200: {"content": {XLSX_MEDIA_TYPE: {}}}},
)
def members_xlsx(key: SegmentKey, brand: ReadBrand, engine: EngineDep) -> StreamingResponse:
    """Every member as an Excel sheet (money and dates formatted; dates in São Paulo time).

    The workbook is written to a temporary file, not memory, then streamed.
    """
    with unit_of_work(engine, write=False) as session:
        get_segment(session, brand_id=brand.id, key=key)  # 404 before writing
    return StreamingResponse(
        file_chunks(members_file(engine, brand_id=brand.id, key=key, fmt="xlsx")),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{key}.xlsx"'},
    )


@router.post(
    "/{key}/evaluate",
    operation_id="live_segments_evaluate",
    response_model=ApplyOut,
    responses=WRITE_ERRORS,
)
def evaluate(key: SegmentKey, brand: AdminBrand, session: WriteSession) -> ApplyOut:
    """Fully re-evaluate a segment now."""
    segment = get_segment(session, brand_id=brand.id, key=key)
    diff = evaluate_segment(session, segment=segment)
    return ApplyOut(
        key=key,
        version=segment.current_version,
        created=False,
        changed=False,
        members=diff.members,
        entered=len(diff.entered),
        exited=len(diff.exited),
    )


@router.delete(
    "/{key}", operation_id="live_segments_archive", response_model=ApplyOut, responses=WRITE_ERRORS
)
def archive(key: SegmentKey, brand: AdminBrand, session: WriteSession) -> ApplyOut:
    """Archive a segment: every member exits (with an event) and evaluation stops."""
    diff = archive_segment(session, brand_id=brand.id, key=key)
    segment = get_segment(session, brand_id=brand.id, key=key)
    return ApplyOut(
        key=key,
        version=segment.current_version,
        created=False,
        changed=True,
        members=0,
        entered=0,
        exited=len(diff.exited),
    )


@router.put(
    "/{key}/goals",
    operation_id="live_segments_goal_set",
    response_model=GoalProgress,
    responses=WRITE_ERRORS,
)
def put_goal(key: SegmentKey, goal: GoalIn, brand: AdminBrand, engine: EngineDep) -> GoalProgress:
    """Set (or replace) the goal for a KPI in a period, and show its progress."""
    with unit_of_work(engine) as session:
        stored = set_goal(
            session,
            brand_id=brand.id,
            key=key,
            kpi=goal.kpi,
            period=goal.period,
            target=goal.target,
            note=goal.note,
        )
        goal_id = stored.id
    return goal_progress(engine, brand_id=brand.id, key=key, goal_id=goal_id)


@router.get(
    "/{key}/goals",
    operation_id="live_segments_goals",
    response_model=list[GoalProgress],
    responses=READ_ERRORS,
)
def list_goals(key: SegmentKey, brand: ReadBrand, engine: EngineDep) -> list[GoalProgress]:
    """The segment's goals with progress, CI and forecast."""
    with unit_of_work(engine, write=False) as session:
        ids = [g.id for g in goals_of(session, brand_id=brand.id, key=key)]
    return [goal_progress(engine, brand_id=brand.id, key=key, goal_id=goal_id) for goal_id in ids]
