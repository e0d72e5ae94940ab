"""Live segments in the dashboard: the list, a segment's page (its rule in words, members,
downloads, entries and exits, goals) and the builder (create or edit, preview, save).

The builder posts the same JSON definition document as ``POST /v1/live-segments``; it is
validated by the one parser (:func:`recompra.segments.definition.parse_definition`) and
stored by the one writer (:func:`recompra.segments.service.apply_definition`). Writes are
JSON ``fetch`` calls carrying the page's CSRF token in a header, which a form on another
site can neither send nor read.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from recompra.db import unit_of_work
from recompra.errors import NotFound
from recompra.models.segments import Segment
from recompra.segments import queries as q
from recompra.segments.definition import (
    InvalidDefinition,
    SegmentDefinition,
    conditions_of,
    definition_to_json,
    parse_definition,
    parse_rule,
)
from recompra.segments.fields import FIELDS
from recompra.segments.flows import members_file
from recompra.segments.goals import goals_of
from recompra.segments.property_rules import (
    OPS_BY_TYPE,
    PREFIX,
    condition_type,
    field_of,
    property_name,
    property_types,
)
from recompra.segments.service import apply_definition, current_version, definition_of, get_segment
from recompra.spreadsheets import XLSX_MEDIA_TYPE, file_chunks
from recompra.web.context import Page, build_page, engine_of, read_unit
from recompra.web.session import check_csrf, csrf_token
from recompra.web.views.common import render

router = APIRouter(include_in_schema=False)

MEMBER_ROWS = 50
HISTORY_ROWS = 20
SAMPLE_ROWS = 10


def _value_text(page: Page, field: str, value: Any) -> str:
    """A condition's value as a reader sees it (money formatted, lists joined)."""
    if isinstance(value, list):
        return ", ".join(_value_text(page, field, v) for v in value)
    spec = FIELDS.get(field)
    if isinstance(value, bool):
        return page.t("segments.yes" if value else "segments.no")
    if spec is not None and spec.kind == "money" and isinstance(value, int | float | str):
        return page.money(int(Decimal(str(value)).scaleb(2)))
    if field == "rfm_segment" and isinstance(value, str):
        return page.segment(value)
    if isinstance(value, int | float):
        return page.number(value, 0 if float(value).is_integer() else 2)
    return str(value)


def describe(page: Page, node: dict[str, Any]) -> dict[str, Any]:
    """A rule document as nested ``{label, children}`` groups and ``{text}`` conditions."""
    for kind in ("all", "any"):
        if kind in node:
            return {
                "label": page.t(f"segments.{kind}"),
                "children": [describe(page, child) for child in node[kind]],
            }
    if "not" in node:
        return {"label": page.t("segments.not"), "children": [describe(page, node["not"])]}
    field, op = node["field"], node["op"]
    name = property_name(field)
    parts = [page.t(f"segments.field.{field}") if name is None else _property_label(page, name)]
    if node.get("event"):
        parts.append(page.t("segments.event", event=node["event"]))
    parts.append(page.t(f"segments.op.{op}") if name is None else _property_op(page, op))
    if op not in ("is_null", "is_not_null"):
        parts.append(_value_text(page, field, node.get("value")))
    if node.get("days") is not None:
        parts.append(page.t("segments.days", days=page.number(node["days"])))
    return {"text": " ".join(parts)}


def _property_label(page: Page, name: str) -> str:
    return page.t("segments.property", name=name)


def _property_op(page: Page, op: str) -> str:
    key = "segments.property_within_days" if op == "within_days" else f"segments.op.{op}"
    return page.t(key)


def property_fields(session: Any, brand_id: int, document: dict[str, Any] | None) -> dict[str, str]:
    """The brand's properties with their type, and those the loaded rule tests (a rule may
    name a property no customer has yet), by rule field."""
    found = {field_of(n): kind for n, kind in property_types(session, brand_id).items()}
    if document is not None:
        for c in conditions_of(parse_rule(document["rule"], money="units")):
            if property_name(c.field) is not None and c.field not in found:
                found[c.field] = condition_type(c.op, c.value) or "text"
    return found


def builder_fields(page: Page, properties: dict[str, str]) -> list[dict[str, Any]]:
    """What the builder's script needs to know about each field, in the page's language:
    the rule language's fields, then the brand's customer properties."""
    out = []
    for name, spec in FIELDS.items():
        choices = spec.choices() if spec.choices is not None else ()
        out.append(
            {
                "name": name,
                "label": page.t(f"segments.field.{name}"),
                "group": page.t(f"segments.group.{spec.group}"),
                "kind": spec.kind,
                "ops": [[op, page.t(f"segments.op.{op}")] for op in spec.allowed_ops],
                "days": spec.days,
                "event": spec.event,
                "integer": spec.integer,
                "choices": [[c, page.segment(c) if name == "rfm_segment" else c] for c in choices],
            }
        )
    for field, kind in properties.items():
        out.append(
            {
                "name": field,
                "label": _property_label(page, field[len(PREFIX) :]),
                "group": page.t("segments.group.property"),
                "kind": kind,
                "ops": [[op, _property_op(page, op)] for op in OPS_BY_TYPE[kind]],
                "days": None,
                "event": False,
                "integer": kind == "number",
                "choices": [],
            }
        )
    return out


@router.get("/dashboard/segments", response_class=HTMLResponse)
def segments_list(request: Request) -> HTMLResponse:
    """The brand's active segments with their sizes."""
    with read_unit(request) as session:
        page = build_page(request, session, "segments")
        rows = q.list_segments(session, brand_id=page.brand.id)
    return render(page, "segments.html", segments=rows)


def _builder(
    request: Request, page: Page, document: dict[str, Any] | None, properties: dict[str, str]
) -> HTMLResponse:
    settings = request.app.state.settings
    return render(
        page,
        "segment_edit.html",
        document=document,
        fields=builder_fields(page, properties),
        csrf=csrf_token(settings.secret_key, request),
        texts={
            key: page.t(f"segments.{key}")
            for key in (
                "match_all",
                "match_any",
                "negate",
                "add_condition",
                "add_group",
                "remove",
                "field",
                "operator",
                "value",
                "window",
                "window_required",
                "event_type",
                "problems",
                "sample",
                "yes",
                "no",
            )
        },
    )


@router.get("/dashboard/segments/new", response_class=HTMLResponse)
def segment_new(request: Request) -> HTMLResponse:
    """The builder with an empty rule."""
    with read_unit(request) as session:
        page = build_page(request, session, "segments")
        properties = property_fields(session, page.brand.id, None)
    return _builder(request, page, None, properties)


@router.get("/dashboard/segments/{key}/edit", response_class=HTMLResponse)
def segment_edit(request: Request, key: str) -> HTMLResponse:
    """The builder loaded with the definition in force."""
    with read_unit(request) as session:
        page = build_page(request, session, "segments")
        segment = _find(session, page, key)
        if segment is None:
            return render(page, "notfound.html", status_code=404)
        document = definition_to_json(definition_of(current_version(session, segment), key))
        properties = property_fields(session, page.brand.id, document)
    return _builder(request, page, document, properties)


def _find(session: Any, page: Page, key: str) -> Segment | None:
    try:
        return get_segment(session, brand_id=page.brand.id, key=key)
    except NotFound:
        return None


@router.get("/dashboard/segments/{key}", response_class=HTMLResponse)
def segment_page(request: Request, key: str) -> HTMLResponse:
    """A segment: its rule in words, members, downloads, entries and exits, goals."""
    with read_unit(request) as session:
        page = build_page(request, session, "segments")
        segment = _find(session, page, key)
        if segment is None:
            return render(page, "notfound.html", status_code=404)
        version = current_version(session, segment)
        document = definition_to_json(definition_of(version, key))
        total, members = q.members_page(
            session, brand_id=page.brand.id, key=key, limit=MEMBER_ROWS, offset=0
        )
        history = q.recent_events(session, brand_id=page.brand.id, key=key, limit=HISTORY_ROWS)
        # Who entered or left, by name as in the members table (the number alone told a
        # manager nothing).
        names = q.customer_names(session, {event.customer_id for event in history})
        goals = goals_of(session, brand_id=page.brand.id, key=key)
    return render(
        page,
        "segment.html",
        segment=segment,
        segment_name=version.name_pt if page.locale == "pt-BR" else version.name_en,
        rule=describe(page, document["rule"]),
        total=total,
        members=members,
        history=history,
        names=names,
        goals=goals,
    )


def _definition_or_problems(body: Any) -> SegmentDefinition | JSONResponse:
    """The parsed definition, or a 400 JSON answer listing every problem with its path."""
    try:
        return parse_definition(body)
    except InvalidDefinition as error:
        return JSONResponse(
            {"problems": [{"path": p.path, "message": p.message} for p in error.problems]},
            status_code=400,
        )


async def _json_body(request: Request) -> Any:
    settings = request.app.state.settings
    check_csrf(settings.secret_key, request)
    try:
        return json.loads(await request.body())
    except ValueError:
        raise HTTPException(400, "the body is not JSON") from None


@router.post("/dashboard/segments/preview")
async def segment_preview(request: Request) -> Response:
    """What the definition being built would select now (saves nothing)."""
    body = await _json_body(request)
    with read_unit(request) as session:
        page = build_page(request, session, "segments")
        definition = _definition_or_problems(body)
        if isinstance(definition, JSONResponse):
            return definition
        result = q.preview(
            session, brand_id=page.brand.id, rule=definition.rule, sample=SAMPLE_ROWS
        )
    summary = page.t(
        "segments.preview_result",
        members=page.number(result.members),
        customers=page.percent(result.customer_share),
        revenue=page.percent(result.revenue_share),
    )
    sample = [
        {"id": m.customer_id, "name": m.name or f"#{m.customer_id}", "place": m.city or ""}
        for m in result.sample
    ]
    return JSONResponse({"members": result.members, "summary": summary, "sample": sample})


@router.post("/dashboard/segments")
async def segment_save(request: Request) -> Response:
    """Create the segment or add a version, evaluate it, and answer where it lives."""
    body = await _json_body(request)
    with unit_of_work(engine_of(request)) as session:
        page = build_page(request, session, "segments")
        definition = _definition_or_problems(body)
        if isinstance(definition, JSONResponse):
            return definition
        result = apply_definition(session, brand_id=page.brand.id, definition=definition)
        members = result.diff.members if result.diff else result.segment.member_count
        key = result.segment.key
    message = page.t("segments.saved", version=result.version, members=page.number(members))
    return JSONResponse({"url": f"/dashboard/segments/{key}", "message": message})


@router.get("/dashboard/segments/{key}/members.{fmt}")
def segment_download(request: Request, key: str, fmt: str) -> Response:
    """Every member as CSV or Excel (the same files as ``recompra segments export``)."""
    if fmt not in ("csv", "xlsx"):
        raise HTTPException(404)
    with read_unit(request) as session:
        page = build_page(request, session, "segments")
        if _find(session, page, key) is None:
            raise HTTPException(404, "no such segment")
    spool = members_file(engine_of(request), brand_id=page.brand.id, key=key, fmt=fmt)
    media = XLSX_MEDIA_TYPE if fmt == "xlsx" else "text/csv; charset=utf-8"
    filename = f"recompra-{page.brand.slug or 'loja'}-{key}.{fmt}"
    return StreamingResponse(
        file_chunks(spool),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
