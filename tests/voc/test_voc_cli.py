"""``recompra cases ...`` and ``recompra surveys ...`` over a SQLite file; and
``recompra worker`` opening the case of a 1-star review."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from typer.testing import CliRunner
from voctest import add_review, make_shop

from recompra.cli.main import app
from recompra.config import get_settings
from recompra.db import dispose_engines, make_engine, unit_of_work
from recompra.migrate import upgrade
from recompra.models import Brand


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("RECOMPRA_DATABASE_URL", url)
    monkeypatch.delenv("RECOMPRA_SMTP_URL", raising=False)
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    dispose_engines()
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_cases_and_surveys_commands(engine: Engine) -> None:
    shop = make_shop(engine)
    with unit_of_work(engine) as session:
        session.execute(update(Brand).values(slug="loja"))
    add_review(engine, shop, 0, 1)
    code, out = run("worker", "--until-idle")
    assert code == 0, out
    # The worker's job total also counts the measurement reports; the case list below
    # checks that exactly one case was opened.
    assert "jobs done" in out

    code, out = run("cases", "list", "--brand", "loja", "--json")
    assert code == 0, out
    listed = json.loads(out)
    (case,) = listed["items"]
    assert (listed["total"], case["channel"], case["priority"]) == (1, "review", "high")

    code, out = run(
        "cases", "assign", str(case["id"]), "--owner", "ana", "--team", "suporte", "--brand", "loja"
    )
    assert (code, out.strip()) == (0, f"case {case['id']}: owner ana, team suporte")
    code, out = run(
        "cases",
        "resolve",
        str(case["id"]),
        "--reason",
        "Reembolso",
        "--by",
        "ana",
        "--brand",
        "loja",
        "--json",
    )
    assert code == 0, out
    resolved = json.loads(out)
    assert (resolved["case"]["status"], resolved["case"]["resolution_reason"]) == (
        "resolved",
        "Reembolso",
    )
    assert [h["to_status"] for h in resolved["history"]] == ["new", "resolved"]
    code, out = run("cases", "resolve", str(case["id"]), "--reason", "de novo", "--brand", "loja")
    assert code == 1
    assert "cannot become resolved" in out
    code, out = run("cases", "show", "999", "--brand", "loja")
    assert (code, "case 999 not found" in out) == (1, True)
    code, out = run("cases", "sla", "--by", "owner", "--brand", "loja")
    assert code == 0, out
    assert "detractors contacted within 48 h: 0/" in out

    code, out = run(
        "surveys", "send", "--customer", str(shop.customers[1]), "--kind", "csat", "--brand", "loja"
    )
    assert (code, out.strip()) == (0, "survey 1 queued")
    code, out = run("surveys", "list", "--brand", "loja", "--json")
    assert [(r["kind"], r["customer_id"], r["score"]) for r in json.loads(out)["items"]] == [
        ("csat", shop.customers[1], None)
    ]
    code, out = run("surveys", "send", "--customer", "999", "--brand", "loja")
    assert code == 1
