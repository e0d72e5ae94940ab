"""``recompra nps`` and ``recompra voc ...``: NPS proxy, CSAT, delivery experience, comment
topics and sentiment (a thin Typer layer over :mod:`recompra.voc`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Protocol, TypeVar

import typer
from sqlalchemy.orm import Session

from recompra.cli.options import brand_id_of, exit_with
from recompra.db import get_engine, unit_of_work
from recompra.errors import RecompraError
from recompra.hub.brands import DEFAULT_BRAND
from recompra.voc.flows import GroupScore
from recompra.voc.service import (
    brand_delivery,
    brand_nps,
    brand_sentiment,
    brand_survey_nps,
    brand_topics,
)
from recompra.voc.settings import set_star_mapping, star_mapping

app = typer.Typer(
    help="Voice of the customer: delivery experience, comment topics, sentiment, NPS mapping.",
    no_args_is_help=True,
)

T = TypeVar("T")
BrandOption = Annotated[str, typer.Option(help="Brand (store) slug")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON")]


class NpsDimension(StrEnum):
    """What ``recompra nps --by`` cuts the scores by."""

    month = "month"
    segment = "segment"
    state = "state"
    category = "category"
    channel = "channel"
    delivery = "delivery"


def _read(brand: str, report: Callable[[Session, int], T]) -> T:
    """``report(session, brand_id)`` in a read-only unit of work on the brand."""
    brand_id = brand_id_of(brand)
    with unit_of_work(get_engine(), write=False) as session:
        return report(session, brand_id)


class _Report(Protocol):
    def as_dict(self) -> dict[str, object]: ...


def _printed_as_json(report: _Report, as_json: bool) -> bool:
    """Print ``report`` as JSON when asked; whether it was printed."""
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    return as_json


def _interval(low: float | None, high: float | None, scale: float = 1.0) -> str:
    if low is None or high is None:
        return "[–]"
    return f"[{low * scale:.1f}, {high * scale:.1f}]"


def _mapping_text(mapping: dict[str, list[int]]) -> str:
    return ", ".join(
        f"{kind} {'/'.join(map(str, stars)) or '–'}" for kind, stars in mapping.items()
    )


def _line(group: GroupScore) -> str:
    nps, csat = group.nps, group.csat
    score = "–" if nps.score is None else f"{nps.score:.1f}"
    share = "–" if csat.share is None else f"{100 * csat.share:.1f}%"
    text = (
        f"{group.key:<24} NPS {score:>6} {_interval(nps.ci_low, nps.ci_high):<16} "
        f"n={nps.n:<6} CSAT {share:>6} {_interval(csat.ci_low, csat.ci_high, 100)}"
    )
    if group.change is not None:
        flag = "significant" if group.change.significant else "not significant"
        text += f"  change {group.change.difference:+.1f} ({flag})"
    return text


def nps(
    by: Annotated[NpsDimension | None, typer.Option(help="Cut the scores by")] = None,
    as_json: JsonOption = False,
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """NPS (a proxy from review stars) and CSAT with 95% CIs, N and the star mapping; the
    NPS of survey answers (not a proxy) when the brand has any."""
    dimension = None if by is None else by.value
    report = _read(
        brand, lambda session, brand_id: brand_nps(session, brand_id=brand_id, by=dimension)
    )
    surveys = _read(brand, lambda session, brand_id: brand_survey_nps(session, brand_id=brand_id))
    if as_json:
        document = {**report.as_dict(), "surveys": None if surveys is None else surveys.as_dict()}
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    if surveys is not None and surveys.score is not None:
        typer.echo(
            f"NPS from survey answers: {surveys.score:.1f} "
            f"{_interval(surveys.ci_low, surveys.ci_high)} n={surveys.n}"
        )
    typer.echo(f"NPS proxy from review stars (mapping: {_mapping_text(report.mapping)})")
    typer.echo(_line(report.overall))
    needed = report.overall.nps.responses_needed
    typer.echo(
        "responses needed for a 95% margin of " + ", ".join(f"±{m}: {n}" for m, n in needed.items())
    )
    if by is not None:
        typer.echo(f"by {by.value}:")
        for group in report.groups:
            typer.echo("  " + _line(group))
        if not report.groups:
            # Segments exist only after `recompra analyze`; other cuts need the field filled.
            typer.echo(f"  no review has a {by.value}")


@app.command("delivery")
def delivery(as_json: JsonOption = False, brand: BrandOption = DEFAULT_BRAND) -> None:
    """Satisfaction on-time vs late (delivered on or before the estimated day)."""
    report = _read(brand, lambda session, brand_id: brand_delivery(session, brand_id=brand_id))
    if _printed_as_json(report, as_json):
        return
    typer.echo(f"NPS proxy by delivery (mapping: {_mapping_text(report.mapping)})")
    for status in report.statuses:
        typer.echo(_line(status))
    change = report.on_time_vs_late
    if change is not None:
        flag = "significant" if change.significant else "not significant"
        typer.echo(f"on time − late: {change.difference:+.1f} points ({flag})")
    typer.echo("by state (on time / late NPS, share late):")
    for row in report.by_state:
        typer.echo(
            f"  {row.key:<6} n={row.reviews:<6} on time {row.on_time.nps.score or 0:6.1f}  "
            f"late {'–' if row.late.nps.score is None else f'{row.late.nps.score:.1f}':>6}  "
            f"late share {100 * (row.late_share or 0):.1f}%"
        )


@app.command("topics")
def topics(as_json: JsonOption = False, brand: BrandOption = DEFAULT_BRAND) -> None:
    """Topic tags of the comments and the share of negative comments they cover."""
    report = _read(brand, lambda session, brand_id: brand_topics(session, brand_id=brand_id))
    if _printed_as_json(report, as_json):
        return
    coverage = "–" if report.coverage is None else f"{100 * report.coverage:.1f}%"
    typer.echo(
        f"{report.comments} comments, {report.negative_comments} negative (1-2 stars); "
        f"topics cover {coverage} of the negative ones"
    )
    for topic in report.topics:
        share = "–" if topic.share_of_negative is None else f"{100 * topic.share_of_negative:.1f}%"
        typer.echo(
            f"  {topic.topic:<18} negative {topic.negative:>6} ({share:>6})  all {topic.comments}"
        )


@app.command("sentiment")
def sentiment(as_json: JsonOption = False, brand: BrandOption = DEFAULT_BRAND) -> None:
    """AUC of the pt-BR lexicon and of the model trained on the store's stars (offline)."""
    result = _read(brand, lambda session, brand_id: brand_sentiment(session, brand_id=brand_id))
    if _printed_as_json(result, as_json):
        return

    def auc(value: float | None) -> str:
        return "– (not enough labelled comments)" if value is None else f"{value:.3f}"

    typer.echo(f"{result.labelled} labelled comments ({result.negative} negative: 1-2 stars)")
    typer.echo(f"lexicon (LeIA) AUC: {auc(result.lexicon_auc)}")
    typer.echo(
        f"supervised (TF-IDF + logistic regression, {result.folds}-fold CV) AUC: "
        f"{auc(result.supervised_auc)}"
    )


@app.command("mapping")
def mapping(
    promoter_min: Annotated[int | None, typer.Option(help="Fewest stars of a promoter")] = None,
    detractor_max: Annotated[int | None, typer.Option(help="Most stars of a detractor")] = None,
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """Show the NPS proxy's star mapping, or store a new one (both options together)."""
    brand_id = brand_id_of(brand)
    if (promoter_min is None) != (detractor_max is None):
        raise typer.BadParameter("give --promoter-min and --detractor-max together")
    try:
        with unit_of_work(get_engine()) as session:
            if promoter_min is not None and detractor_max is not None:
                current = set_star_mapping(
                    session,
                    brand_id=brand_id,
                    promoter_min=promoter_min,
                    detractor_max=detractor_max,
                )
            else:
                current = star_mapping(session, brand_id=brand_id)
    except RecompraError as error:
        raise exit_with(error) from None
    typer.echo(_mapping_text(current.as_dict()))
