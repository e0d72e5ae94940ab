"""``recompra nps`` and ``recompra voc ...`` on the Olist import: JSON equals the reports,
the text names the proxy and its mapping, and the stored mapping changes the score."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner
from voctest import ImportedOlist

from recompra.cli.main import app
from recompra.config import get_settings
from recompra.db import dispose_engines, unit_of_work
from recompra.models import Review, VocSetting
from recompra.voc.service import brand_nps

pytestmark = pytest.mark.slow


@pytest.fixture
def cli_on_olist(olist_hub: ImportedOlist, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI's configured database is the Olist import."""
    monkeypatch.setenv("RECOMPRA_DATABASE_URL", olist_hub.url)
    get_settings.cache_clear()
    dispose_engines()
    yield
    dispose_engines()
    get_settings.cache_clear()


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--brand", "olist"])
    assert result.exit_code == 0, result.output
    return result.output


def test_nps_json_is_the_report(cli_on_olist: None, olist_hub: ImportedOlist) -> None:
    printed = json.loads(_run("nps", "--by", "state", "--json"))
    with unit_of_work(olist_hub.engine, write=False) as session:
        expected = brand_nps(session, brand_id=olist_hub.brand_id, by="state").as_dict()
    assert printed == json.loads(json.dumps({**expected, "surveys": None}))  # no survey sent
    assert printed["proxy"] is True
    assert printed["overall"]["nps"]["n"] == 10_001


def test_nps_text_names_the_proxy_mapping_and_margins(cli_on_olist: None) -> None:
    text = _run("nps", "--by", "delivery")
    assert "NPS proxy from review stars" in text
    assert "promoter 5, passive 4, detractor 1/2/3" in text
    assert "±3:" in text
    assert "±10:" in text
    assert "on_time" in text
    assert "late" in text


def test_topics_and_delivery_commands(cli_on_olist: None) -> None:
    topics = json.loads(_run("voc", "topics", "--json"))
    assert topics["coverage"] > 0.75
    delivery = json.loads(_run("voc", "delivery", "--json"))
    assert delivery["on_time_vs_late"]["significant"] is True


def test_stored_mapping_changes_the_score_and_bad_ones_are_refused(
    cli_on_olist: None, olist_hub: ImportedOlist
) -> None:
    refused = CliRunner().invoke(
        app, ["voc", "mapping", "--promoter-min", "3", "--detractor-max", "4", "--brand", "olist"]
    )
    assert refused.exit_code == 1
    assert "detractor stars < promoter stars" in refused.output
    with unit_of_work(olist_hub.engine, write=False) as session:
        assert session.get(VocSetting, olist_hub.brand_id) is None
        stars = list(
            session.scalars(select(Review.score).where(Review.brand_id == olist_hub.brand_id))
        )
    try:
        assert _run("voc", "mapping", "--promoter-min", "4", "--detractor-max", "2").strip() == (
            "promoter 4/5, passive 3, detractor 1/2"
        )
        score = json.loads(_run("nps", "--json"))["overall"]["nps"]["score"]
        expected = 100 * (sum(s >= 4 for s in stars) - sum(s <= 2 for s in stars)) / len(stars)
        assert score == pytest.approx(expected)
    finally:
        # Back to "no stored mapping" for the other tests of the session.
        with unit_of_work(olist_hub.engine) as session:
            session.execute(delete(VocSetting).where(VocSetting.brand_id == olist_hub.brand_id))
