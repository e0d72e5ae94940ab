"""``recompra journeys ...``, ``recompra worker`` and ``recompra mailbox``: apply (all or
nothing), list, show, pause/resume, a worker pass that ends when idle, and the demo
sink's messages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from recompra.automation.email import SmtpSender, build_message, smtp_settings
from recompra.automation.sink import running_sink
from recompra.automation.tracking import bounce_secret
from recompra.cli.main import app
from recompra.config import get_settings
from recompra.db import dispose_engines, make_engine, unit_of_work
from recompra.hub.brands import DEFAULT_BRAND
from recompra.migrate import upgrade
from recompra.models import Brand
from recompra.models.automation import Coupon, JourneyVersion

PACKAGED = Path(__file__).parents[2] / "src/recompra/automation/journeys"
BROKEN = """\
---
key: broken
name: {pt-BR: "Quebrada", en: "Broken"}
trigger: {type: order_placed}
start: a
nodes: {a: {type: wait, duration: soon, next: a}}
"""


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("RECOMPRA_DATABASE_URL", url)
    monkeypatch.delenv("RECOMPRA_SMTP_URL", raising=False)
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    with unit_of_work(engine) as session:
        session.add(Brand(slug=DEFAULT_BRAND, name="Loja"))
    yield engine
    engine.dispose()
    dispose_engines()
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _versions(engine: Engine) -> int:
    with unit_of_work(engine, write=False) as session:
        return int(session.scalar(select(func.count()).select_from(JourneyVersion)) or 0)


def test_apply_list_show_pause_resume(engine: Engine, tmp_path: Path) -> None:
    code, out = run("journeys", "apply", str(PACKAGED / "win_back.yaml"))
    assert (code, out.strip()) == (0, "win_back: created (version 1)")
    assert run("journeys", "apply", str(PACKAGED / "win_back.yaml"))[1].strip() == (
        "win_back: unchanged (version 1)"
    )
    code, out = run("journeys", "list", "--json")
    (listed,) = json.loads(out)
    assert (listed["key"], listed["status"], listed["version"], listed["active_runs"]) == (
        "win_back",
        "active",
        1,
        0,
    )
    code, out = run("journeys", "show", "win_back")
    assert code == 0
    assert "value: 300.0" in out  # money shown in currency units
    assert run("journeys", "pause", "win_back")[1].strip() == "win_back: paused"
    assert json.loads(run("journeys", "list", "--json")[1])[0]["status"] == "paused"
    assert run("journeys", "resume", "win_back")[1].strip() == "win_back: active"


def test_apply_is_all_or_nothing(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text((PACKAGED / "points_expiring.yaml").read_text() + BROKEN, encoding="utf-8")
    code, out = run("journeys", "apply", str(path))
    assert code == 1
    assert "nodes.a.duration: 'soon' is not a duration" in out
    assert "nodes.a: cycle a -> a: journeys are acyclic" in out
    assert _versions(engine) == 0


def test_worker_until_idle_exits_and_says_smtp_is_missing(engine: Engine) -> None:
    code, out = run("worker", "--until-idle")
    assert code == 0
    assert "RECOMPRA_SMTP_URL is not set" in out
    assert "triggers 0, decided 0, sent 0" in out


def test_worker_timings_name_each_step_and_job(engine: Engine) -> None:
    code, out = run("worker", "--until-idle", "--timings")
    assert code == 0
    lines = out.splitlines()
    for step in ("triggers", "decide", "deliver", "pass", "MeasurementRefresh", "purge_job"):
        assert any(re.match(rf"{step}: [1-9]\d* times, ", line) for line in lines), (step, out)


def test_mailbox_lists_what_the_sink_received(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mail"
    assert run("mailbox", "--folder", str(folder)) == (0, f"no messages in {folder}\n")
    payload = {
        "to": "ana@example.com",
        "subject": "Olá, Ana",
        "text": "oi",
        "html": "<p>oi</p>",
        "unsubscribe_url": "https://loja.test/u",
    }
    with running_sink(folder) as port:
        sender = SmtpSender(smtp_settings(f"smtp://127.0.0.1:{port}", "Loja <l@example.com>"))
        for n in range(3):
            sender.send(
                build_message(
                    {**payload, "subject": f"Olá, Ana {n}"},
                    execution_key=f"1:1:k:send:{n}",
                    sender="Loja <l@example.com>",
                )
            )
        sender.close()
    code, out = run("mailbox", "--folder", str(folder), "--limit", "2")
    lines = out.strip().splitlines()
    assert code == 0
    assert [line.split("\t")[1:3] for line in lines] == [
        ["ana@example.com", "Olá, Ana 2"],
        ["ana@example.com", "Olá, Ana 1"],
    ]


def test_coupon_codes_load_into_a_pool_once_and_the_bounce_secret_is_printed(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = tmp_path / "codes.txt"
    codes.write_text("VIP-1\nVIP-2\n\nVIP-1\n", encoding="utf-8")
    assert run("journeys", "coupons", "vip", str(codes), "--expires", "2026-12-31") == (
        0,
        "2 code(s) added to pool vip\n",
    )
    assert run("journeys", "coupons", "vip", str(codes))[1] == "0 code(s) added to pool vip\n"
    with unit_of_work(engine, write=False) as session:
        expiry = set(session.scalars(select(Coupon.expires_at)))
    assert expiry == {datetime(2026, 12, 31, tzinfo=UTC)}
    monkeypatch.setenv("RECOMPRA_SECRET_KEY", "cli-secret")
    get_settings.cache_clear()
    code, out = run("webhooks", "bounce-secret")
    assert (code, out.strip()) == (0, bounce_secret("cli-secret"))
    assert out.startswith("whsec_")
