"""The "What each action earned" page in Chromium: both languages, desktop and phone,
and no page wider than the phone. The thank-you journey's figures (incremental revenue
and its CI, the MDE, the SRM p-value) must equal what this test computes itself from the
stored runs and orders, with the formulas written here. The page shows the reports the
worker stored (the server fixture runs its pass) with their time, and a clear state
before the first one exists."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from scipy import optimize
from scipy import stats as scipy_stats
from sqlalchemy import func, select
from webtest import VIEWPORTS, Server, screenshot, sign_in

from recompra.db import make_engine, unit_of_work
from recompra.models import MeasurementReport, Order
from recompra.models.automation import Journey, JourneyRun, OutboxMessage

pytestmark = pytest.mark.browser

WINDOW = timedelta(days=30)
HOLDOUT_SHARE = 0.5  # the fixture's thank-you journey holds out half its entrants


def _arms(server: Server) -> tuple[list[float], list[float], float, int]:
    """Revenue in each first run's 30-day window (the brand's purchases), treated and
    held out (the worker's record of the arm), and the holdout's conversion, from the
    server's database; and how many of its messages were delivered."""
    engine = make_engine(server.database_url)
    try:
        with unit_of_work(engine, write=False) as session:
            brand_id = session.scalar(
                select(Journey.brand_id).where(Journey.key == "post_purchase_thanks")
            )
            runs = pd.DataFrame(
                session.execute(
                    select(JourneyRun.customer_id, JourneyRun.started_at, JourneyRun.holdout)
                    .join(Journey, Journey.id == JourneyRun.journey_id)
                    .where(Journey.key == "post_purchase_thanks")
                    .order_by(JourneyRun.started_at, JourneyRun.id)
                ).all(),
                columns=["customer_id", "started_at", "holdout"],
            ).drop_duplicates("customer_id")
            delivered = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .join(JourneyRun, JourneyRun.id == OutboxMessage.run_id)
                .join(Journey, Journey.id == JourneyRun.journey_id)
                .where(Journey.key == "post_purchase_thanks", OutboxMessage.state == "sent")
            )
            orders = pd.DataFrame(
                session.execute(
                    select(Order.customer_id, Order.purchased_at, Order.total_minor).where(
                        Order.brand_id == brand_id,
                        Order.status.not_in(("canceled", "unavailable")),
                    )
                ).all(),
                columns=["customer_id", "purchased_at", "total_minor"],
            )
    finally:
        engine.dispose()
    joined = runs.merge(orders, on="customer_id")
    inside = joined[
        (joined["purchased_at"] > joined["started_at"])
        & (joined["purchased_at"] <= joined["started_at"] + WINDOW)
    ]
    revenue = runs["customer_id"].map(inside.groupby("customer_id")["total_minor"].sum())
    runs = runs.assign(revenue=revenue.fillna(0.0), converted=revenue.notna())
    treated, held = runs[~runs["holdout"]], runs[runs["holdout"]]
    return (
        list(treated["revenue"]),
        list(held["revenue"]),
        float(held["converted"].mean()),
        int(delivered or 0),
    )


def _expected(server: Server) -> dict[str, Any]:
    t, c, p_c, delivered = _arms(server)
    n_t, n_c = len(t), len(c)
    mean_t, mean_c = sum(t) / n_t, sum(c) / n_c
    var_t = sum((x - mean_t) ** 2 for x in t) / (n_t - 1) / n_t
    var_c = sum((x - mean_c) ** 2 for x in c) / (n_c - 1) / n_c
    # Welch (1947): Satterthwaite's degrees of freedom, t quantile, times the treated.
    df = (var_t + var_c) ** 2 / (var_t**2 / (n_t - 1) + var_c**2 / (n_c - 1))
    half = scipy_stats.t.ppf(0.975, df) * math.sqrt(var_t + var_c)
    diff = mean_t - mean_c
    # SRM: Pearson's chi-square of the arm sizes against the planned split, 1 df.
    expected_t = (n_t + n_c) * (1 - HOLDOUT_SHARE)
    expected_c = (n_t + n_c) * HOLDOUT_SHARE
    chi2 = (n_t - expected_t) ** 2 / expected_t + (n_c - expected_c) ** 2 / expected_c
    # MDE (Fleiss, Levin & Paik 2003, 4.2): the lift d with 80% power at alpha 5%.
    z = scipy_stats.norm.ppf(0.975)

    def power_gap(d: float) -> float:
        p_t = p_c + d
        pooled = (n_t * p_t + n_c * p_c) / (n_t + n_c)
        s0 = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
        s1 = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
        return float(scipy_stats.norm.cdf((d - z * s0) / s1)) - 0.8

    mde = optimize.brentq(power_gap, 1e-9, 1 - p_c - 1e-9)
    return {
        "value": diff * n_t,
        "low": (diff - half) * n_t,
        "high": (diff + half) * n_t,
        "srm": float(scipy_stats.chi2.sf(chi2, 1)),
        "mde": mde,
        "arms": f"{n_t} / {n_c}",
        "delivered": delivered,
    }


def _signed_in_page(browser: Any, server: Server, viewport: str, lang: str) -> tuple[Any, Any]:
    """A new browser context at ``viewport`` signed in on the page in ``lang``."""
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=viewport == "phone"
    )
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    sign_in(tab, server, "/dashboard/measurement")
    if lang == "en":
        tab.goto(server.url + "/dashboard/lang?to=en&next=/dashboard/measurement")
        tab.wait_for_url("**/dashboard/measurement")
    return context, tab


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
@pytest.mark.parametrize("lang", ["pt-BR", "en"])
def test_the_page_shows_the_journey_uplift_and_the_program_roi(
    browser: Any, server: Server, viewport: str, lang: str
) -> None:
    expected = _expected(server)
    width, _ = VIEWPORTS[viewport]
    context, tab = _signed_in_page(browser, server, viewport, lang)
    try:
        assert tab.locator("html").get_attribute("lang") == lang
        heading = "O que cada ação rendeu" if lang == "pt-BR" else "What each action earned"
        assert heading in tab.locator("h1").inner_text()
        # Current, or updating when an earlier test of the session wrote new data.
        status = tab.locator("[data-report-status]")
        assert status.get_attribute("data-report-status") in ("current", "updating")
        assert ("Calculado em" if lang == "pt-BR" else "Computed at") in status.inner_text()
        row = tab.locator("[data-journey=post_purchase_thanks]")
        # The journey card and its one message's row (every entrant reaches it after the
        # business-hours wait) show the incremental revenue computed here.
        message = tab.locator("[data-node='post_purchase_thanks:thank']")
        for shown in (
            row.locator("[data-incremental] [data-value]"),
            message.locator("[data-value]"),
        ):
            for attribute, key in (
                ("data-value", "value"),
                ("data-ci-low", "low"),
                ("data-ci-high", "high"),
            ):
                assert abs(int(shown.get_attribute(attribute) or "") - expected[key]) <= 1
        assert f"{expected['arms']}" in row.inner_text()
        assert f"{expected['arms']}" in message.inner_text()
        # Every figure of the message's row is on screen, without a sideways scroll
        # (on phones the table stacks each row, every cell labelled by its column).
        revenue = message.locator("[data-value]").bounding_box()
        assert revenue is not None
        assert revenue["x"] + revenue["width"] <= width
        srm = float(row.locator("[data-srm]").get_attribute("data-srm") or "nan")
        assert math.isclose(srm, expected["srm"], rel_tol=1e-6)
        mde = float(row.locator("[data-mde]").get_attribute("data-mde") or "nan")
        assert math.isclose(mde, expected["mde"], rel_tol=0.01)
        # The response KPI per segment covers every delivered message once.
        by_segment = tab.locator("[data-segment^='post_purchase_thanks:'] td:nth-child(3)")
        shown_delivered = [
            int(x.replace(".", "").replace(",", "")) for x in by_segment.all_inner_texts()
        ]
        assert sum(shown_delivered) == expected["delivered"] > 0
        note = "observacional" if lang == "pt-BR" else "Observational"
        assert note in tab.locator("#loyalty-roi").inner_text()
        screenshot(tab, f"measurement-{lang}-{viewport}")
        assert tab.evaluate("document.documentElement.scrollWidth") <= width + 1
    finally:
        context.close()


def _cli_uplift(server: Server) -> dict[str, Any]:
    """``recompra uplift --json`` on the server's database, in its own process."""
    env = {
        **os.environ,
        "RECOMPRA_DATABASE_URL": server.database_url,
        "RECOMPRA_HOME": str(server.home),
    }
    command = [sys.executable, "-c", "from recompra.cli.main import app; app()"]
    done = subprocess.run(
        [*command, "uplift", "--json", "--brand", server.slug],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _shown(tab: Any) -> dict[str, tuple[str | None, ...]]:
    """Each journey's incremental revenue and CI, SRM p-value and MDE as the page has them."""
    shown = {}
    for row in tab.locator("article[data-journey]").all():
        money = row.locator("[data-incremental] [data-value]")
        if not money.count():
            continue
        shown[row.get_attribute("data-journey") or ""] = (
            money.get_attribute("data-value"),
            money.get_attribute("data-ci-low"),
            money.get_attribute("data-ci-high"),
            row.locator("[data-srm]").get_attribute("data-srm"),
            row.locator("[data-mde]").get_attribute("data-mde"),
        )
    return shown


def test_the_stored_report_is_the_cli_report(browser: Any, server: Server) -> None:
    width, height = VIEWPORTS["desktop"]
    context = browser.new_context(viewport={"width": width, "height": height})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    try:
        sign_in(tab, server, "/dashboard/measurement")
        first = _shown(tab)
        tab.reload()  # the second view reads the same stored report
        second = _shown(tab)
    finally:
        context.close()
    report = _cli_uplift(server)
    expected = {
        j["key"]: tuple(
            str(value)
            for value in (
                j["comparison"]["incremental_revenue"]["value_minor"],
                j["comparison"]["incremental_revenue"]["ci_low_minor"],
                j["comparison"]["incremental_revenue"]["ci_high_minor"],
                j["comparison"]["srm_p_value"],
                j["comparison"]["mde"]["conversion_mde"],
            )
        )
        for j in report["journeys"]
        if j["comparison"] is not None
    }
    assert "post_purchase_thanks" in expected
    assert first == second == expected


@pytest.fixture
def no_stored_reports(server: Server) -> Iterator[None]:
    """The server's database as before the worker's first pass; restored afterwards."""
    engine = make_engine(server.database_url)
    columns = ("brand_id", "kind", "settings_key", "data_version", "computed_at")
    try:
        with unit_of_work(engine) as session:
            rows = session.scalars(select(MeasurementReport)).all()
            kept = [
                {name: getattr(row, name) for name in (*columns, "valid_until", "payload")}
                for row in rows
            ]
            for row in rows:
                session.delete(row)
        yield
        with unit_of_work(engine) as session:
            session.add_all(MeasurementReport(**values) for values in kept)
    finally:
        engine.dispose()


@pytest.mark.usefixtures("no_stored_reports")
@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
@pytest.mark.parametrize("lang", ["pt-BR", "en"])
def test_before_the_first_report_the_page_says_it_is_being_computed(
    browser: Any, server: Server, viewport: str, lang: str
) -> None:
    width, _ = VIEWPORTS[viewport]
    context, tab = _signed_in_page(browser, server, viewport, lang)
    try:
        status = tab.locator("[data-report-status]")
        assert status.get_attribute("data-report-status") == "pending"
        expected = (
            "Estamos calculando estes números"
            if lang == "pt-BR"
            else "These figures are being computed"
        )
        assert expected in status.inner_text()
        assert tab.locator("[data-pending=uplift]").is_visible()
        assert tab.locator("[data-pending=roi]").is_visible()
        assert not tab.locator("article[data-journey]").count()
        screenshot(tab, f"measurement-pending-{lang}-{viewport}")
        assert tab.evaluate("document.documentElement.scrollWidth") <= width + 1
    finally:
        context.close()
