"""Browser-test fixtures: a uvicorn server over a seeded database, and Debian's Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, select
from webtest import (
    ARTIFACTS,
    EMAIL,
    JOURNEYS_AT,
    LIST_CUSTOMERS,
    PASSWORD,
    SEARCH_CPF,
    SEARCH_PHONE,
    VIEWPORTS,
    Server,
)

from recompra import automation
from recompra.auth.keys import create_api_key
from recompra.auth.users import create_user
from recompra.automation.consent import record_consent
from recompra.automation.definition import parse_journey
from recompra.automation.demo import apply_ready_made
from recompra.automation.runs import active_journeys, start_run
from recompra.automation.schedule import Cap, ContactPolicy
from recompra.automation.service import apply_journey
from recompra.automation.steps import DecisionContext
from recompra.automation.worker import decide_due, ingest_triggers
from recompra.config import Settings
from recompra.db import make_engine, unit_of_work
from recompra.loyalty import (
    create_program,
    create_reward,
    define_tier,
    earn_for_order,
    publish_rules,
    redeem,
)
from recompra.measurement.history import settle_history
from recompra.measurement.reports import page_specs, refresh_reports
from recompra.migrate import upgrade
from recompra.models import Brand, Customer, CustomerScore, Order
from recompra.models.voc import SurveyAnswer, SurveySend
from recompra.predict.explain import explain_one
from samplestore import analyse_sample, seed_sample

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _seed_journeys(engine: Any, brand_id: int, customers: list[int]) -> None:
    """The ready-made journeys after six new orders: decisions of every kind on the page.

    Customer 0 orders twice (a cap of one e-mail a week defers the second thank-you),
    customer 1 withdrew consent (suppressed); no SMTP runs, so decided e-mails stay queued.
    """
    apply_ready_made(engine, brand_id=brand_id)
    buyers = [customers[0], *customers[:5]]
    with unit_of_work(engine) as session:
        record_consent(
            session,
            customer_id=customers[1],
            channel="email",
            purpose="marketing",
            granted=False,
            source="test",
            now=JOURNEYS_AT - timedelta(days=1),
        )
        for n, customer_id in enumerate(buyers):
            session.add(
                Order(
                    brand_id=brand_id,
                    source="journeys",
                    external_id=f"J-{n}",
                    customer_id=customer_id,
                    status="approved",
                    purchased_at=JOURNEYS_AT - timedelta(minutes=5),
                    total_minor=15990,
                    items_total_minor=15990,
                    created_at=JOURNEYS_AT - timedelta(minutes=5),
                )
            )
    policy = ContactPolicy(
        caps={"email": Cap(1, timedelta(days=7))}, quiet_from=None, quiet_to=None
    )
    ctx = DecisionContext(policy=policy, secret="browser-test-secret")
    ingest_triggers(engine, now=JOURNEYS_AT)
    while decide_due(engine, ctx, now=JOURNEYS_AT):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _seed_loyalty(session: Any, brand_id: int) -> None:
    """Brand A's program: points on its five largest orders, one redemption."""
    program = create_program(
        session, brand_id=brand_id, name="Clube", return_window_days=0, expiry_days=100_000
    )
    publish_rules(
        session,
        program_id=program.id,
        rules=[{"type": "base", "points_per_unit": 1}],
        effective_from=datetime(2000, 1, 1, tzinfo=UTC),
    )
    define_tier(
        session,
        program_id=program.id,
        code="ouro",
        name="Ouro",
        rank=1,
        metric="points",
        threshold=10**9,
    )
    create_reward(session, program_id=program.id, code="cupom", name="Cupom R$ 10", cost_points=10)
    orders = session.execute(
        select(Order.id, Order.customer_id)
        .where(Order.brand_id == brand_id, Order.status == "delivered")
        .order_by(Order.total_minor.desc(), Order.id)
        .limit(5)
    ).all()
    for order_id, _ in orders:
        earn_for_order(session, program_id=program.id, order_id=order_id)
    redeem(
        session,
        program_id=program.id,
        customer_id=orders[0][1],
        reward_code="cupom",
        request_key="seed",
    )


def _seed_survey_answers(session: Any, brand_id: int, customers: list[int]) -> None:
    """Two answered NPS surveys (a promoter and a passive): the voc page's survey tile."""
    for n, score in enumerate((10, 8)):
        send = SurveySend(
            brand_id=brand_id,
            customer_id=customers[10 + n],
            kind="nps",
            origin_key=f"web-test:{n}",
            sent_at=JOURNEYS_AT,
        )
        session.add(send)
        session.flush()
        session.add(SurveyAnswer(send_id=send.id, score=score, via="link", answered_at=JOURNEYS_AT))


def _seed_journey(engine: Any, brand_id: int) -> None:
    """The thank-you journey with a 50% holdout that brand A's customers entered an hour
    after their first order, run as the demo's history is: each run started at its past
    moment and decided by the real worker then, the treated arm's e-mails delivered."""
    # The packaged post-purchase journey, with an even split so both arms are sizeable.
    packaged = Path(automation.__file__).parent / "journeys" / "post_purchase_thanks.yaml"
    document = yaml.safe_load(packaged.read_text(encoding="utf-8"))
    document["nodes"]["holdout"]["percent"] = 50
    with unit_of_work(engine) as session:
        apply_journey(session, brand_id=brand_id, definition=parse_journey(document))
        journey = next(
            j
            for j in active_journeys(session)
            if j.brand_id == brand_id and j.key == document["key"]
        )
        firsts = session.execute(
            select(Order.customer_id, func.min(Order.id), func.min(Order.purchased_at))
            .where(Order.brand_id == brand_id)
            .group_by(Order.customer_id)
        ).all()
        for customer_id, order_id, first in firsts:
            entered = first.replace(tzinfo=UTC) + timedelta(hours=1)
            start_run(
                session,
                journey,
                customer_id=customer_id,
                occurrence="history",
                now=entered,
                order_id=order_id,
            )
    policy = ContactPolicy(quiet_from=None, quiet_to=None)
    settle_history(engine, DecisionContext(policy=policy), JOURNEYS_AT - timedelta(days=1))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """uvicorn on a free 127.0.0.1 port over a seeded SQLite database."""
    if not CHROMIUM.exists():
        pytest.skip("browser tests need /usr/bin/chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api")
    home = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{home / 'recompra.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with unit_of_work(engine) as session:
        # More customers than one list page (50), so that pagination is exercised.
        store = seed_sample(session, customers=LIST_CUSTOMERS)
        searchable = session.get(Customer, store.customers_a[3])
        assert searchable is not None
        # Stored as the hub stores them: digits only (hub.normalize).
        searchable.document, searchable.phone = SEARCH_CPF, SEARCH_PHONE
        # Explanations in the shape the prediction run stores (hub.scores): one text per
        # language, written by predict.explain from the row's own figures, so the page
        # never shows a P(alive) beside an explanation that quotes another one.
        for score in session.scalars(
            select(CustomerScore).where(CustomerScore.customer_id == searchable.id)
        ):
            figures = (
                float(score.p_alive or 0.0),
                float(score.recency_days or 0),
                30.0,
                float(score.expected_purchases or 0.0),
                365.0,
            )
            score.explanations = {
                "pt-BR": explain_one(*figures, lang="pt"),
                "en": explain_one(*figures, lang="en"),
            }
        create_user(session, email=EMAIL, password=PASSWORD, brand_id=store.brand_a)
        _, key = create_api_key(session, scopes=["read", "loyalty"], brand_id=store.brand_a)
        _seed_loyalty(session, store.brand_a)
        _seed_survey_answers(session, store.brand_a, store.customers_a)
        slug = session.scalar(select(Brand.slug).where(Brand.id == store.brand_a))
    _seed_journey(engine, store.brand_a)
    _seed_journeys(engine, store.brand_a, store.customers_a)
    analyse_sample(engine, home, brand_id=store.brand_a)
    # The worker's pass over the measurement reports (the server runs no worker).
    refresh_reports(
        engine,
        specs=page_specs(point_value_minor_per_1000=Settings().point_value_minor_per_1000),
        now=datetime.now(UTC),
    )
    engine.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "RECOMPRA_DATABASE_URL": url,
        "RECOMPRA_HOME": str(home),
        "RECOMPRA_ENVIRONMENT": "test",
        "RECOMPRA_SECRET_KEY": "browser-test-secret",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "recompra.server:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Generous: on a loaded CI machine importing the app alone can take half a minute.
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the server did not start")
            time.sleep(0.1)
        yield Server(
            url=base,
            api_key=key,
            home=home,
            slug=str(slug),
            database_url=url,
            searchable_id=store.customers_a[3],
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def backtests(server: Server) -> Iterator[dict[str, Any]]:
    """A ``backtest.json`` where the models page reads it (removed afterwards).

    Hand-written numbers in the shape ``recompra predict --backtest`` writes: two models
    (the chosen one with its weekly tracking) and the churn choice with its reason.
    """
    directory = server.home / "predictions" / server.slug
    directory.mkdir(parents=True)
    metrics = {"rmse": 1.3, "mae_naive": 0.876, "total_error_pct": 5.0}
    tracking = [
        {"period": 1.0, "actual": 2.0, "expected": 1.5, "holdout": 0.0},
        {"period": 2.0, "actual": 5.0, "expected": 4.0, "holdout": 1.0},
    ]
    report = {
        "calibration_end": "2024-03-01",
        "observation_end": "2024-06-30",
        "chosen_model": "pareto",
        "models": {
            "bgnbd": {"metrics": {"mae": 0.637, **metrics}},
            "pareto": {"metrics": {"mae": 0.628, **metrics}, "tracking": tracking},
        },
        "selection": {"rule": "lowest holdout MAE"},
        "churn": {
            "method": "model",
            "window_days": 90,
            "reason": "lower or equal Brier score on the time split",
            "metrics": {"model": {"auc": 0.784, "brier": 0.101}},
        },
    }
    (directory / "backtest.json").write_text(json.dumps(report))
    try:
        yield report
    finally:
        shutil.rmtree(directory)


@pytest.fixture(scope="session")
def browser(server: Server) -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def tab_at(browser: Any) -> Iterator[Any]:
    """``tab_at(viewport, locale)``: a new signed-out tab at ``desktop`` or ``phone`` size,
    the browser itself in ``locale`` (pt-BR by default, as the dashboard's users are)."""
    contexts = []

    def open_tab(viewport: str, locale: str = "pt-BR") -> Any:
        width, height = VIEWPORTS[viewport]
        context = browser.new_context(
            viewport={"width": width, "height": height},
            is_mobile=viewport == "phone",
            locale=locale,
        )
        contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(10_000)
        return tab

    yield open_tab
    for context in contexts:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember each phase's report on the item so fixtures can see failures."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (no cookies); a screenshot is kept if the test fails."""
    context = browser.new_context(viewport={"width": 1366, "height": 850})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
