"""``recompra loyalty challenges|quizzes|referrals``: define, evaluate, settle, report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from recompra.cli.main import app

from .conftest import World
from .test_cli import cli_world as cli_world  # the CLI's database fixture

NOW = "2025-03-20T12:00:00+00:00"


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, ["loyalty", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_challenges_quizzes_and_referrals_from_the_command_line(
    cli_world: World, tmp_path: Path
) -> None:
    brand, program = cli_world.program(return_window_days=7)
    ana = cli_world.customer()
    for month in (1, 2, 3):
        cli_world.order(brand, ana, at=datetime(2025, month, 5, tzinfo=UTC))
    challenges = tmp_path / "challenges.json"
    challenges.write_text(
        json.dumps(
            {
                "badges": [{"code": "fiel", "name": "Fiel"}],
                "challenges": [
                    {
                        "code": "tri",
                        "name": "Três meses",
                        "kind": "streak",
                        "metric": "orders",
                        "target": 3,
                        "reward_points": 30,
                        "badge_code": "fiel",
                        "starts_at": "2025-01-01T00:00:00Z",
                    }
                ],
            }
        )
    )
    quizzes = tmp_path / "quizzes.json"
    question = {"text": "?", "options": ["a", "b"], "answer": 1}
    quizzes.write_text(
        json.dumps(
            {"quizzes": [{"code": "q", "title": "Q", "questions": [question], "pass_mark": 1}]}
        )
    )
    assert _run("challenges", "define", str(program), str(challenges)) == (
        "defined 1 badge(s) and 1 challenge(s)"
    )
    assert _run("quizzes", "define", str(program), str(quizzes)) == "defined 1 quiz(zes)"
    assert _run("challenges", "progress", str(program), str(ana), "--now", NOW) == (
        "tri  3 of 3  (once)"
    )
    # The job evaluates members (accounts): open Ana's through her referral code.
    code = _run(
        "referrals", "terms", str(program), "--referrer-points", "5", "--friend-points", "2"
    )
    assert code == "referral terms set: 5 + 2 points"
    assert len(_run("referrals", "code", str(program), str(ana))) == 8
    assert _run("challenges", "evaluate", str(program), "--now", NOW) == (
        "1 challenge(s) completed, 30 points"
    )
    assert _run("challenges", "evaluate", str(program), "--now", NOW) == (
        "0 challenge(s) completed, 0 points"
    )
    assert _run("referrals", "settle", str(program), "--now", NOW) == (
        "held 0, released 0, voided 0"
    )
    assert _run("referrals", "stats", str(program)) == (
        "claims 0  rejected 0  waiting 0  pending 0  released 0  void 0  conversion -"
    )
    assert _run("balance", str(program), str(ana)) == "balance 30  pending 0  debt 0  ledger ok"
