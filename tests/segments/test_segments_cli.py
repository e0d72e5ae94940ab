"""``recompra segments ...``: apply a file (all or nothing), show, members, export, goals."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from segmenttest import NOW, brand, customer, order
from sqlalchemy import Engine
from typer.testing import CliRunner

from recompra.cli.segments import app
from recompra.config import get_settings
from recompra.db import dispose_engines, make_engine, unit_of_work
from recompra.migrate import upgrade

GOOD = """\
key: sp
name: {pt-BR: "São Paulo", en: "São Paulo"}
rule: {field: state, op: eq, value: SP}
"""
BAD = (
    GOOD
    + """\
---
key: broken
name: {pt-BR: "Quebrado", en: "Broken"}
rule: {all: [{field: orders, op: gte, value: many}]}
"""
)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("RECOMPRA_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    with unit_of_work(engine) as session:
        b = brand(session, "default")
        for state in ("SP", "SP", "RJ"):
            order(
                session,
                b,
                customer(session, b, state=state),
                total_minor=1_234,
                at=NOW - timedelta(days=3),
            )
    yield engine
    engine.dispose()
    dispose_engines()
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_a_file_with_one_bad_definition_applies_nothing(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text(BAD, encoding="utf-8")
    code, output = run("apply", str(path))
    assert code == 1
    assert "rule.all[0].value: expected a number for orders" in output
    assert run("list")[1] == ""


def test_apply_show_members_export_and_goals(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert run("apply", str(path)) == (0, "sp: created 1, 2 members (+2 -0)\n")
    assert run("apply", str(path)) == (0, "sp: unchanged (version 1)\n")
    code, shown = run("show", "sp")
    assert code == 0
    assert "rule:\n  field: state\n  op: eq\n  value: SP" in shown
    code, members = run("members", "sp")
    assert (code, members.splitlines()[0]) == (0, "2 members")
    out = tmp_path / "out" / "sp.csv"
    assert run("export", "sp", "--out", str(out)) == (0, f"2 members written to {out}\n")
    with out.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert [(r["state"], r["orders"], r["net_revenue"], r["version"]) for r in rows] == [
        ("SP", "1", "12.34", "1"),
        ("SP", "1", "12.34", "1"),
    ]
    xlsx = tmp_path / "sp.xlsx"
    assert run("export", "sp", "--out", str(xlsx)) == (0, f"2 members written to {xlsx}\n")
    sheet = load_workbook(xlsx, read_only=True)["sp"]
    header, *cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert header[-3:] == ["entered_at", "orders", "net_revenue"]
    # Numbers stay numbers in Excel (sums work), not text.
    assert [(r[4], r[-2], r[-1]) for r in cells] == [("SP", 1, 12.34), ("SP", 1, 12.34)]
    assert all(isinstance(r[-3], datetime) for r in cells)
    assert run("export", "sp", "--out", str(tmp_path / "sp.ods"))[0] == 1
    code, output = run(
        "goal", "set", "sp", "--kpi", "orders", "--period", "2026-Q2", "--target", "10"
    )
    assert code == 0, output
    code, output = run("goal", "list", "sp", "--at", "2026-06-30T12:00:00")
    assert code == 0, output
    # The goal runs in Q2 but the segment's members entered now (after Q2): no cohort.
    assert "orders 2026-Q2 target 10: ended" in output
