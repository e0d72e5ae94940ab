"""``recompra segments ...``: apply definitions from YAML/JSON files, list, show, members,
export, evaluate, preview and goals (a Typer sub-app over :mod:`recompra.segments`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import yaml

from recompra.cli.options import brand_id_of, exit_with, load_documents
from recompra.db import get_engine, unit_of_work
from recompra.errors import RecompraError
from recompra.hub.brands import DEFAULT_BRAND
from recompra.segments import queries as q
from recompra.segments.definition import definition_to_json, parse_definition
from recompra.segments.fields import FIELDS
from recompra.segments.flows import evaluate_all, export_members
from recompra.segments.goals import goal_progress, goals_of, set_goal
from recompra.segments.property_rules import OPS_BY_TYPE, PREFIX
from recompra.segments.service import (
    apply_definition,
    current_version,
    definition_of,
    get_segment,
)

app = typer.Typer(
    help="Live segments: rule-tree definitions, members, goals.", no_args_is_help=True
)
goal_app = typer.Typer(help="Goals per segment.", no_args_is_help=True)
app.add_typer(goal_app, name="goal")

BrandOption = Annotated[str, typer.Option(help="Brand (store) slug")]
KeyArg = Annotated[str, typer.Argument(help="Segment key")]


@app.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="YAML/JSON file")],
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """Create or version the segments defined in FILE and evaluate them.

    Every definition is validated first; if any is wrong, nothing is applied.
    """
    brand_id = brand_id_of(brand)
    try:
        definitions = [parse_definition(d) for d in load_documents(file)]
        with unit_of_work(get_engine()) as session:
            for definition in definitions:
                result = apply_definition(session, brand_id=brand_id, definition=definition)
                if not result.changed:
                    typer.echo(f"{definition.key}: unchanged (version {result.version})")
                    continue
                diff = result.diff
                assert diff is not None
                verb = "created" if result.created else "new version"
                typer.echo(
                    f"{definition.key}: {verb} {result.version}, {diff.members} members "
                    f"(+{len(diff.entered)} -{len(diff.exited)})"
                )
    except RecompraError as error:
        raise exit_with(error) from None


@app.command("preview")
def preview(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="YAML/JSON file")],
    brand: BrandOption = DEFAULT_BRAND,
    sample: Annotated[int, typer.Option(help="Members to show")] = 10,
) -> None:
    """Size, revenue share and a sample of the first definition in FILE (nothing saved)."""
    brand_id = brand_id_of(brand)
    try:
        definition = parse_definition(load_documents(file)[0])
    except RecompraError as error:
        raise exit_with(error) from None
    with unit_of_work(get_engine(), write=False) as session:
        result = q.preview(session, brand_id=brand_id, rule=definition.rule, sample=sample)
    share = f"{result.customer_share:.1%}" if result.customer_share is not None else "-"
    revenue = f"{result.revenue_share:.1%}" if result.revenue_share is not None else "-"
    typer.echo(
        f"{result.members} of {result.customers} customers ({share}), {revenue} of net revenue"
    )
    for m in result.sample:
        typer.echo(
            f"  {m.customer_id}\t{m.state or ''}\t{m.orders} orders\t"
            f"{m.net_revenue_minor / 100:.2f}"
        )


@app.command("list")
def list_(brand: BrandOption = DEFAULT_BRAND, archived: bool = False) -> None:
    """The brand's segments: key, version, members, names."""
    brand_id = brand_id_of(brand)
    with unit_of_work(get_engine(), write=False) as session:
        rows = q.list_segments(session, brand_id=brand_id, include_archived=archived)
    for s in rows:
        typer.echo(f"{s.key}\tv{s.version}\t{s.members}\t{s.status}\t{s.name_pt} / {s.name_en}")


@app.command("show")
def show(key: KeyArg, brand: BrandOption = DEFAULT_BRAND) -> None:
    """The definition in force (YAML, money in currency units) and the version history."""
    brand_id = brand_id_of(brand)
    try:
        with unit_of_work(get_engine(), write=False) as session:
            segment = get_segment(session, brand_id=brand_id, key=key)
            definition = definition_of(current_version(session, segment), key)
            versions = q.versions_of(session, segment)
    except RecompraError as error:
        raise exit_with(error) from None
    typer.echo(yaml.safe_dump(definition_to_json(definition), allow_unicode=True, sort_keys=False))
    typer.echo(f"# {segment.member_count} members, status {segment.status}")
    for v in versions:
        typer.echo(f"# version {v.version}: {v.created_at.isoformat()}")


@app.command("members")
def members(
    key: KeyArg,
    brand: BrandOption = DEFAULT_BRAND,
    limit: Annotated[int, typer.Option(help="Rows to show")] = 50,
    offset: Annotated[int, typer.Option(help="Rows to skip")] = 0,
) -> None:
    """A page of members: id, state, city, version that put them in, entry time."""
    brand_id = brand_id_of(brand)
    try:
        with unit_of_work(get_engine(), write=False) as session:
            total, rows = q.members_page(
                session, brand_id=brand_id, key=key, limit=limit, offset=offset
            )
    except RecompraError as error:
        raise exit_with(error) from None
    typer.echo(f"{total} members")
    for m in rows:
        typer.echo(
            f"{m.customer_id}\t{m.state or ''}\t{m.city or ''}\tv{m.version}\t"
            f"{m.entered_at.isoformat() if m.entered_at else ''}"
        )


@app.command("export")
def export(
    key: KeyArg,
    out: Annotated[Path, typer.Option(help="Output file (.csv or .xlsx)")],
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """Write every member to a CSV or XLSX file (by the extension; money in currency units)."""
    brand_id = brand_id_of(brand)
    try:
        written = export_members(get_engine(), brand_id=brand_id, key=key, path=out)
    except RecompraError as error:
        raise exit_with(error) from None
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{written} members written to {out}")


@app.command("evaluate")
def evaluate(brand: BrandOption = DEFAULT_BRAND) -> None:
    """Fully re-evaluate every active segment (the nightly job)."""
    runs = evaluate_all(get_engine(), brand_id=brand_id_of(brand))
    for run in runs:
        typer.echo(
            f"{run.key}: {run.members} members (+{run.entered} -{run.exited}) "
            f"in {run.seconds:.2f} s"
        )


@app.command("fields")
def fields() -> None:
    """The fields a rule can test, with kind, operators and meaning."""
    for spec in FIELDS.values():
        typer.echo(
            f"{spec.name}\t{spec.group}\t{spec.kind}\t{','.join(spec.allowed_ops)}\t"
            f"{spec.description}"
        )
    for kind, ops in OPS_BY_TYPE.items():
        typer.echo(
            f"{PREFIX}<name>\tproperty\t{kind}\t{','.join(ops)}\t"
            f"A custom customer property holding {kind} values."
        )


@goal_app.command("set")
def goal_set(
    key: KeyArg,
    kpi: Annotated[str, typer.Option(help="KPI, e.g. repurchase_rate")],
    period: Annotated[str, typer.Option(help="2026-Q2, 2026-05 or 2026")],
    target: Annotated[float, typer.Option(help="Rates as shares; money in currency units")],
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """Set (or replace) a segment's target for a KPI in a period."""
    brand_id = brand_id_of(brand)
    try:
        with unit_of_work(get_engine()) as session:
            goal = set_goal(
                session, brand_id=brand_id, key=key, kpi=kpi, period=period, target=target
            )
            typer.echo(f"goal {goal.id}: {kpi} {target} in {period}")
    except RecompraError as error:
        raise exit_with(error) from None


@goal_app.command("list")
def goal_list(
    key: KeyArg,
    brand: BrandOption = DEFAULT_BRAND,
    at: Annotated[str | None, typer.Option(help="Evaluate at this ISO time")] = None,
) -> None:
    """The segment's goals with value, 95% CI (rates), forecast and whether on track."""
    brand_id = brand_id_of(brand)
    now = None
    if at is not None:
        parsed = datetime.fromisoformat(at)
        now = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    engine = get_engine()
    try:
        with unit_of_work(engine, write=False) as session:
            ids = [g.id for g in goals_of(session, brand_id=brand_id, key=key)]
        for goal_id in ids:
            p = goal_progress(engine, brand_id=brand_id, key=key, goal_id=goal_id, now=now)
            ci = f" [{p.ci_low:.4f}, {p.ci_high:.4f}]" if p.ci_low is not None else ""
            typer.echo(
                f"{p.kpi} {p.period} target {p.target:g}: {p.status}, value {p.value}{ci}, "
                f"forecast {p.forecast}, on track {p.on_track} (cohort {p.cohort})"
            )
    except RecompraError as error:
        raise exit_with(error) from None
