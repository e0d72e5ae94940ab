"""``recompra cases ...`` and ``recompra surveys ...``: thin commands over
:mod:`recompra.voc` (the queue with SLA clocks, a case, assign, resolve; survey sends)."""

from __future__ import annotations

import dataclasses
import getpass
import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from recompra.automation.settings import AutomationSettings, decision_context
from recompra.cli.options import brand_id_of, exit_with
from recompra.config import get_settings
from recompra.db import get_engine, unit_of_work
from recompra.errors import RecompraError
from recompra.hub.brands import DEFAULT_BRAND
from recompra.models.base import utcnow
from recompra.models.voc import Case
from recompra.voc.cases import NewCase, get_case, open_case
from recompra.voc.cases import assign as assign_case
from recompra.voc.cases import resolve as resolve_case
from recompra.voc.feedback import detractor_queue
from recompra.voc.queue import CaseDetail, CaseFilter, CaseRow, case_detail, list_cases, sla_met
from recompra.voc.surveys import list_surveys, send_survey

app = typer.Typer(help="Cases (complaints, requests) and their SLA clocks.", no_args_is_help=True)
surveys_app = typer.Typer(help="NPS, CSAT and CES surveys.", no_args_is_help=True)

BrandOption = Annotated[str, typer.Option(help="Brand (store) slug")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
CaseArg = Annotated[int, typer.Argument(help="Case id")]
ByOption = Annotated[str, typer.Option("--by", help="Who acts (default: your login)")]


def _json(value: Any) -> None:
    is_row = dataclasses.is_dataclass(value) and not isinstance(value, type)
    plain = dataclasses.asdict(value) if is_row else value
    typer.echo(json.dumps(plain, indent=2, default=str, ensure_ascii=False))


def _clock(row: CaseRow) -> str:
    clock = row.first_response if row.first_response.status in ("due", "failed") else row.resolution
    if clock.minutes_left is None:
        return clock.status
    return f"{clock.status} ({clock.minutes_left} min)"


@app.command("list")
def list_(
    brand: BrandOption = DEFAULT_BRAND,
    status: Annotated[str, typer.Option(help="A status, active or all")] = "active",
    owner: Annotated[str | None, typer.Option(help="Only this agent's")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team's")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """The queue, nearest resolution deadline first, with its SLA clocks."""
    where = CaseFilter(status=None if status == "all" else status, owner=owner, team=team)
    brand_id = brand_id_of(brand)
    with unit_of_work(get_engine(), write=False) as session:
        total, rows = list_cases(session, brand_id=brand_id, where=where, now=utcnow(), limit=limit)
    if as_json:
        _json({"total": total, "items": [dataclasses.asdict(r) for r in rows]})
        return
    for r in rows:
        typer.echo(
            f"{r.id:>6}  {r.status:<20} {r.priority:<7} {r.channel:<8} {_clock(r):<18} "
            f"{r.owner or '-':<20} {r.subject[:60]}"
        )
    typer.echo(f"{len(rows)} of {total} cases")


@app.command()
def show(case_id: CaseArg, brand: BrandOption = DEFAULT_BRAND, as_json: JsonOption = False) -> None:
    """A case with its clocks, status history, notes and replies."""
    brand_id = brand_id_of(brand)
    try:
        with unit_of_work(get_engine(), write=False) as session:
            detail = case_detail(session, brand_id=brand_id, case_id=case_id, now=utcnow())
    except RecompraError as error:
        raise exit_with(error) from error
    if as_json:
        _json(detail)
        return
    c = detail.case
    typer.echo(f"#{c.id} {c.subject}")
    typer.echo(
        f"  {c.type}, {c.priority}, {c.channel}, {c.status}; "
        f"owner {c.owner or '-'}, team {c.team or '-'}"
    )
    for name, clock in (("first response", c.first_response), ("resolution", c.resolution)):
        typer.echo(f"  {name}: {clock.status}, due {clock.due_at or '-'}")
    for h in detail.history:
        typer.echo(f"  {h.at:%Y-%m-%d %H:%M} {h.from_status or '-'} -> {h.to_status} ({h.actor})")
    for m in detail.messages:
        typer.echo(f"  [{m.kind}] {m.author}: {m.body}")


@app.command("open")
def open_(
    subject: Annotated[str, typer.Option(help="What it is about")],
    type_: Annotated[
        str, typer.Option("--type", help="complaint, question, request, feedback")
    ] = "request",
    priority: Annotated[str, typer.Option(help="low, normal, high, urgent")] = "normal",
    channel: Annotated[str, typer.Option(help="email, phone, chat, whatsapp, ...")] = "phone",
    customer: Annotated[int | None, typer.Option(help="Customer id")] = None,
    order: Annotated[int | None, typer.Option(help="Order id")] = None,
    owner: Annotated[str | None, typer.Option(help="Agent")] = None,
    team: Annotated[str | None, typer.Option(help="Team")] = None,
    by: ByOption = "",
    brand: BrandOption = DEFAULT_BRAND,
    as_json: JsonOption = False,
) -> None:
    """Open a case (an agent taking a call, a chat, an e-mail)."""
    new = NewCase(
        type=type_,
        priority=priority,
        channel=channel,
        subject=subject,
        customer_id=customer,
        order_id=order,
        owner=owner,
        team=team,
    )
    brand_id = brand_id_of(brand)
    try:
        with unit_of_work(get_engine()) as session:
            case = open_case(
                session, brand_id=brand_id, new=new, actor=by or getpass.getuser(), now=utcnow()
            )
            detail = case_detail(session, brand_id=brand_id, case_id=case.id, now=utcnow())
    except RecompraError as error:
        raise exit_with(error) from error
    _print_change(detail, as_json, "opened")


@app.command()
def assign(
    case_id: CaseArg,
    owner: Annotated[str | None, typer.Option(help="Agent")] = None,
    team: Annotated[str | None, typer.Option(help="Team")] = None,
    brand: BrandOption = DEFAULT_BRAND,
    as_json: JsonOption = False,
) -> None:
    """Give a case an owner and/or a team."""
    detail = _change(
        brand,
        case_id,
        lambda session, case: assign_case(session, case=case, owner=owner, team=team, now=utcnow()),
    )
    _print_change(
        detail, as_json, f"owner {detail.case.owner or '-'}, team {detail.case.team or '-'}"
    )


def _change(brand: str, case_id: int, action: Callable[[Session, Case], object]) -> CaseDetail:
    """Run ``action`` on the locked case in one unit of work; the case afterwards."""
    brand_id = brand_id_of(brand)
    try:
        with unit_of_work(get_engine()) as session:
            action(session, get_case(session, brand_id=brand_id, case_id=case_id, lock=True))
            return case_detail(session, brand_id=brand_id, case_id=case_id, now=utcnow())
    except RecompraError as error:
        raise exit_with(error) from error


def _print_change(detail: CaseDetail, as_json: bool, what: str) -> None:
    if as_json:
        _json(detail)
    else:
        typer.echo(f"case {detail.case.id}: {what}")


@app.command()
def resolve(
    case_id: CaseArg,
    reason: Annotated[str, typer.Option(help="Resolution reason")],
    by: ByOption = "",
    brand: BrandOption = DEFAULT_BRAND,
    as_json: JsonOption = False,
) -> None:
    """Resolve a case with a reason."""
    actor = by or getpass.getuser()
    detail = _change(
        brand,
        case_id,
        lambda session, case: resolve_case(
            session, case=case, reason=reason, actor=actor, now=utcnow()
        ),
    )
    _print_change(detail, as_json, "resolved")


@app.command()
def sla(
    by: Annotated[str, typer.Option("--by", help="team or owner")] = "team",
    brand: BrandOption = DEFAULT_BRAND,
    as_json: JsonOption = False,
) -> None:
    """SLA clocks met per team or agent, and the detractor queue's 48-hour contact rate."""
    if by not in ("team", "owner"):
        raise typer.BadParameter("team or owner", param_hint="--by")
    brand_id = brand_id_of(brand)
    with unit_of_work(get_engine(), write=False) as session:
        rows = sla_met(session, brand_id=brand_id, by=by, now=utcnow())
        loop = detractor_queue(session, brand_id=brand_id, now=utcnow(), limit=0)
    if as_json:
        _json(
            {
                "by": by,
                "groups": [dataclasses.asdict(r) for r in rows],
                "detractors": dataclasses.asdict(loop),
            }
        )
        return
    for r in rows:
        typer.echo(
            f"{r.group or '-':<24} first response {r.first_response_met}/{r.first_response_ended}"
            f"  resolution {r.resolution_met}/{r.resolution_ended}"
        )
    typer.echo(f"detractors contacted within 48 h: {loop.contacted_in_time}/{loop.decided}")


@surveys_app.command("send")
def surveys_send(
    customer: Annotated[int, typer.Option(help="Customer id")],
    kind: Annotated[str, typer.Option(help="nps, csat or ces")] = "nps",
    order: Annotated[int | None, typer.Option(help="Order id the survey is about")] = None,
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """E-mail a survey (queued in the outbox; ``recompra worker`` sends it)."""
    brand_id = brand_id_of(brand)
    links = decision_context(get_settings(), AutomationSettings())
    try:
        with unit_of_work(get_engine()) as session:
            send_id = send_survey(
                session,
                brand_id=brand_id,
                customer_id=customer,
                kind=kind,
                order_id=order,
                links=links,
                now=utcnow(),
            )
    except RecompraError as error:
        raise exit_with(error) from error
    typer.echo(f"survey {send_id} queued")


@surveys_app.command("list")
def surveys_list(
    brand: BrandOption = DEFAULT_BRAND,
    kind: Annotated[str | None, typer.Option(help="nps, csat or ces")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    as_json: JsonOption = False,
) -> None:
    """Survey sends, newest first, with their answers."""
    brand_id = brand_id_of(brand)
    with unit_of_work(get_engine(), write=False) as session:
        total, rows = list_surveys(session, brand_id=brand_id, kind=kind, limit=limit)
    if as_json:
        _json({"total": total, "items": [dataclasses.asdict(r) for r in rows]})
        return
    for r in rows:
        answer = "-" if r.score is None else f"{r.score} {r.comment or ''}".strip()
        typer.echo(
            f"{r.send_id:>6}  {r.kind:<5} customer {r.customer_id:<8} "
            f"{r.sent_at:%Y-%m-%d}  {answer}"
        )
    typer.echo(f"{len(rows)} of {total} sends")
