"""``recompra loyalty challenges|quizzes|referrals ...``: definitions and the two jobs.

Thin: each command reads its options, calls the loyalty service and prints.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from recompra.cli.options import parse_utc
from recompra.db import get_engine, unit_of_work
from recompra.loyalty.challenges import definitions as challenge_definitions
from recompra.loyalty.challenges.evaluate import customer_progress, evaluate_program
from recompra.loyalty.quizzes import service as quizzes
from recompra.loyalty.referrals.service import (
    configure_referrals,
    referral_code,
    referral_stats,
    settle_referrals,
)

challenges_app = typer.Typer(help="Badges, challenges and streaks.", no_args_is_help=True)
quizzes_app = typer.Typer(help="Product-knowledge quizzes.", no_args_is_help=True)
referrals_app = typer.Typer(help="Referral terms, codes and the release job.", no_args_is_help=True)

ProgramId = Annotated[int, typer.Argument(help="Program id")]
CustomerId = Annotated[int, typer.Argument(help="Customer id")]
DefinitionFile = Annotated[typer.FileText, typer.Argument(help="JSON definition document")]
Now = Annotated[str | None, typer.Option(help="Run as of this ISO time (default now)")]


def _now(value: str | None) -> datetime:
    return datetime.now(UTC) if value is None else parse_utc(value)


@challenges_app.command("define")
def challenges_define(program_id: ProgramId, definition: DefinitionFile) -> None:
    """Add the badges and challenges of a JSON document ``{"badges": [], "challenges": []}``."""
    with unit_of_work(get_engine()) as session:
        badges, challenges = challenge_definitions.define_from_document(
            session, program_id=program_id, document=json.load(definition)
        )
    typer.echo(f"defined {badges} badge(s) and {challenges} challenge(s)")


@challenges_app.command("evaluate")
def challenges_evaluate(program_id: ProgramId, now: Now = None) -> None:
    """The job: complete every challenge members have reached (idempotent)."""
    with unit_of_work(get_engine()) as session:
        done = evaluate_program(session, program_id=program_id, now=_now(now))
    typer.echo(f"{len(done)} challenge(s) completed, {sum(c.points for c in done)} points")


@challenges_app.command("progress")
def challenges_progress(program_id: ProgramId, customer_id: CustomerId, now: Now = None) -> None:
    """A customer's progress on each open challenge ("2 of 3")."""
    with unit_of_work(get_engine(), write=False) as session:
        rows = customer_progress(
            session, program_id=program_id, customer_id=customer_id, now=_now(now)
        )
    for p in rows:
        typer.echo(f"{p.code}  {p.current} of {p.target}  ({p.period_key})")


@quizzes_app.command("define")
def quizzes_define(program_id: ProgramId, definition: DefinitionFile) -> None:
    """Add the quizzes of a JSON document ``{"quizzes": [...]}``."""
    with unit_of_work(get_engine()) as session:
        count = quizzes.define_from_document(
            session, program_id=program_id, document=json.load(definition)
        )
    typer.echo(f"defined {count} quiz(zes)")


@referrals_app.command("terms")
def referrals_terms(
    program_id: ProgramId,
    referrer_points: Annotated[int, typer.Option(help="Points for the referrer")],
    friend_points: Annotated[int, typer.Option(help="Points for the friend")],
    max_per_referrer: Annotated[int, typer.Option(help="Accepted claims per referrer")] = 10,
    burst_limit: Annotated[int, typer.Option(help="Claims of one code per burst window")] = 3,
    burst_window_hours: Annotated[int, typer.Option(help="The burst window")] = 24,
) -> None:
    """Set the program's referral terms."""
    with unit_of_work(get_engine()) as session:
        configure_referrals(
            session,
            program_id=program_id,
            referrer_points=referrer_points,
            friend_points=friend_points,
            max_per_referrer=max_per_referrer,
            burst_limit=burst_limit,
            burst_window_hours=burst_window_hours,
        )
    typer.echo(f"referral terms set: {referrer_points} + {friend_points} points")


@referrals_app.command("code")
def referrals_code(program_id: ProgramId, customer_id: CustomerId) -> None:
    """A customer's referral code (created on first ask)."""
    with unit_of_work(get_engine()) as session:
        code = referral_code(
            session, program_id=program_id, customer_id=customer_id, now=datetime.now(UTC)
        )
    typer.echo(code)


@referrals_app.command("settle")
def referrals_settle(program_id: ProgramId, now: Now = None) -> None:
    """The job: hold rewards on first orders, release or void those past the window."""
    with unit_of_work(get_engine()) as session:
        report = settle_referrals(session, program_id=program_id, now=_now(now))
    typer.echo(f"held {report.held}, released {report.released}, voided {report.voided}")


@referrals_app.command("stats")
def referrals_stats(program_id: ProgramId) -> None:
    """Claims by outcome and the referral conversion."""
    with unit_of_work(get_engine(), write=False) as session:
        stats = referral_stats(session, program_id=program_id)
    conversion = "-" if stats.conversion is None else f"{stats.conversion:.1%}"
    typer.echo(
        f"claims {stats.claims}  rejected {stats.rejected}  waiting {stats.waiting}  "
        f"pending {stats.pending}  released {stats.released}  void {stats.void}  "
        f"conversion {conversion}"
    )
