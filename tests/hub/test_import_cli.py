"""``recompra import csv``: bad input ends in one or two clear lines; ``--debug`` shows why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recompra.cli.main import app
from recompra.config import get_settings
from recompra.db import dispose_engines
from recompra.errors import InvalidInput

MAPPING = """
source: loja
delimiter: ";"
decimal: ","
date_formats: ["%d/%m/%Y"]
columns: {order_id: Pedido, purchased_at: Data, customer_id: Cliente, product_id: Produto,
          unit_price: Preço}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RECOMPRA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RECOMPRA_DATABASE_URL", "")
    get_settings.cache_clear()
    yield tmp_path
    dispose_engines()
    get_settings.cache_clear()


def _import(*args: str) -> tuple[int, list[str], BaseException | None]:
    result = CliRunner().invoke(app, ["import", "csv", *args])
    return result.exit_code, result.output.strip().splitlines(), result.exception


def test_a_missing_mapping_is_one_line_not_a_traceback(home: Path) -> None:
    code, lines, _ = _import("--mapping", str(home / "nope.yaml"), str(home / "x.csv"))
    assert code == 1
    assert len(lines) == 2
    assert lines[0] == f"error: mapping file {home / 'nope.yaml'} not found"
    assert "--debug" in lines[1]


def test_a_wrong_delimiter_names_the_columns_and_debug_raises(home: Path) -> None:
    (home / "m.yaml").write_text(MAPPING)
    (home / "v.csv").write_text('Pedido,Data,Cliente,Produto,Preço\n1,05/01/2026,c1,p1,"1,00"\n')
    code, lines, _ = _import("--mapping", str(home / "m.yaml"), str(home / "v.csv"))
    assert code == 1
    assert len(lines) == 2
    assert "found 1 column: 'Pedido,Data,Cliente,Produto,Preço'" in lines[0]
    code, _, exception = _import("--debug", "--mapping", str(home / "m.yaml"), str(home / "v.csv"))
    assert isinstance(exception, InvalidInput)


def test_the_report_has_the_facts_as_json_and_a_table(home: Path) -> None:
    (home / "m.yaml").write_text(MAPPING)
    (home / "v.csv").write_text("Pedido;Data;Cliente;Produto;Preço\n1;05/01/2026;c1;p1;0,00\n")
    code, lines, _ = _import("--mapping", str(home / "m.yaml"), str(home / "v.csv"))
    assert code == 0, lines
    cells = [[w for w in line.split() if w != "│"] for line in lines]
    assert ["zero_price_lines", "1"] in cells
    report = json.loads(next((home / "home" / "imports").glob("run-*/report.json")).read_text())
    assert report["facts"]["zero_price_lines"] == 1
    assert report["counts"]["order_items"]["inserted"] == 1
