"""The ``loyalty`` CLI sub-app: create a program, show a balance, run the expiry job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recompra.cli.loyalty import app
from recompra.config import get_settings
from recompra.db import dispose_engines, make_engine, unit_of_work
from recompra.loyalty import adjust
from recompra.migrate import upgrade

from .conftest import World


@pytest.fixture
def cli_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("RECOMPRA_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine, "heads")
    yield World(engine)
    engine.dispose()
    dispose_engines()
    get_settings.cache_clear()


def _program_with_25_points(runner: CliRunner, world: World, brand: int) -> tuple[int, int]:
    """A program created through the CLI and a customer credited 25 points: both ids."""
    customer = world.customer()
    created = runner.invoke(app, ["program", "create", "--brand-id", str(brand)])
    assert created.exit_code == 0, created.output
    program = int(created.output.split()[1])
    with unit_of_work(world.engine) as s:
        adjust(
            s,
            program_id=program,
            customer_id=customer,
            points=25,
            request_key="k",
            reason="cli test",
        )
    return program, customer


def test_program_create_balance_and_expire(cli_world: World) -> None:
    runner = CliRunner()
    program, customer = _program_with_25_points(runner, cli_world, cli_world.brand())
    shown = runner.invoke(app, ["balance", str(program), str(customer)])
    assert shown.exit_code == 0, shown.output
    assert shown.output.strip() == "balance 25  pending 0  debt 0  ledger ok"
    expired = runner.invoke(app, ["expire", "--now", "2100-01-01T00:00:00+00:00"])
    assert expired.exit_code == 0, expired.output
    assert "expired 25 points in 1 lot(s)" in expired.output


def test_analytics_and_coalition_commands(cli_world: World) -> None:
    runner = CliRunner()
    brand, other = cli_world.brand(), cli_world.brand()
    program, _ = _program_with_25_points(runner, cli_world, brand)
    shown = runner.invoke(app, ["analytics", str(program), "--json"])
    assert shown.exit_code == 0, shown.output
    figures = json.loads(shown.output)
    assert (figures["members"], figures["liability_points"]) == (1, 25)
    # The default point value is R$ 50.00 per 1,000 points: 25 points are R$ 1.25.
    assert figures["liability_minor"] == 125
    joined = runner.invoke(
        app, ["coalition", str(program), "--join-brand", str(other), "--earn-rate-pct", "50"]
    )
    assert joined.exit_code == 0, joined.output
    assert f"brand {other} (50%)" in joined.output
