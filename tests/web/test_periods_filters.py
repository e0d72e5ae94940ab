"""The overview's date range against the previous period, the shared filters, the clusters
page, in real Chromium at 1366 and 390 px, in pt-BR and en."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import httpx
import pandas as pd
import pytest
from webtest import Server, brand_customers, screenshot, sign_in

from recompra.formatting import format_number, format_percent
from recompra.models import Customer
from recompra.snapshot.schema import NON_PURCHASE_STATUSES
from recompra.web.i18n import SEGMENT_ACTIONS

pytestmark = pytest.mark.browser

FROM, TO = date(2023, 10, 1), date(2023, 12, 31)
PREVIOUS_FROM = FROM - (TO - FROM + timedelta(days=1))


def _purchases(server: Server) -> pd.DataFrame:
    """The purchases the analytics ran on, straight from the snapshot's orders file."""
    orders = pd.read_parquet(server.home / "snapshots" / server.slug / "orders.parquet")
    orders = orders[~orders["status"].isin(NON_PURCHASE_STATUSES)].copy()
    orders["day"] = pd.to_datetime(orders["purchased_at"], utc=True).dt.date
    return orders


def _counts(purchases: pd.DataFrame, start: date, end: date) -> dict[str, int]:
    inside = purchases[(purchases["day"] >= start) & (purchases["day"] <= end)]
    first = purchases.groupby("customer_id")["day"].min()
    return {
        "orders": len(inside),
        "customers": inside["customer_id"].nunique(),
        "new_customers": int(((first >= start) & (first <= end)).sum()),
    }


@pytest.mark.parametrize("locale", ["pt-BR", "en"])
def test_the_cards_compare_a_range_with_the_previous_equal_length_period(
    tab_at: Any, server: Server, locale: str
) -> None:
    purchases = _purchases(server)
    current = _counts(purchases, FROM, TO)
    previous = _counts(purchases, PREVIOUS_FROM, FROM - timedelta(days=1))
    assert current["orders"] > 0
    assert previous["orders"] > 0
    tab = tab_at("desktop", "pt-BR" if locale == "pt-BR" else "en-US")
    sign_in(tab, server)
    if locale == "en":
        tab.click("#lang-switch")
        tab.wait_for_url("**/dashboard")
    # Typed as each language writes a date (dd/mm/aaaa in pt-BR, ISO in en).
    typed = "%d/%m/%Y" if locale == "pt-BR" else "%Y-%m-%d"
    tab.fill("#range-from", FROM.strftime(typed))
    tab.fill("#range-to", TO.strftime(typed))
    tab.click("#range-apply")
    tab.wait_for_url("**/dashboard?*range=custom*")
    summary = tab.locator("#range-summary")
    assert summary.get_attribute("data-previous-start") == PREVIOUS_FROM.isoformat()
    assert summary.get_attribute("data-previous-end") == (FROM - timedelta(days=1)).isoformat()
    for key in ("orders", "customers", "new_customers"):
        assert tab.locator(f"[data-kpi={key}]").get_attribute("data-value") == str(current[key])
        shown = tab.locator(f"[data-previous={key}]").get_attribute("data-previous-value")
        assert shown == str(previous[key]), key
    change = (current["orders"] - previous["orders"]) / previous["orders"]
    expected = ("+" if change > 0 else "") + format_percent(change, locale)
    assert tab.locator("[data-change=orders]").inner_text().startswith(expected)
    assert (
        tab.locator("[data-previous=orders]")
        .inner_text()
        .endswith(format_number(previous["orders"], locale))
    )
    assert tab.locator("#range-partial").count() == 0
    assert tab.locator("#range-from").input_value() == FROM.strftime(typed)
    screenshot(tab, f"desktop-{locale}-overview-range")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_portuguese_page_shows_dates_as_dd_mm_aaaa_in_an_english_browser(
    tab_at: Any, server: Server, viewport: str
) -> None:
    """A native date input follows the browser's locale (mm/dd/yyyy in en-US Chromium);
    the range's inputs follow the page's language instead."""
    tab = tab_at(viewport, "en-US")
    sign_in(tab, server)
    start = tab.locator("#range-from")
    assert start.get_attribute("type") == "text"
    assert start.get_attribute("placeholder") == "dd/mm/aaaa"
    start.fill("01/10/2023")
    tab.fill("#range-to", "31/12/2023")
    assert tab.evaluate("document.querySelector('#range-from').checkValidity()")
    tab.click("#range-apply")
    tab.wait_for_url("**/dashboard?*range=custom*")
    summary = tab.locator("#range-summary")
    assert summary.get_attribute("data-start") == FROM.isoformat()
    assert summary.get_attribute("data-end") == TO.isoformat()
    assert (start.input_value(), tab.locator("#range-to").input_value()) == (
        "01/10/2023",
        "31/12/2023",
    )
    assert "01/10/2023" in summary.inner_text()
    screenshot(tab, f"{viewport}-pt-BR-overview-typed-range")
    # The month first (the en-US habit) is no day of the calendar as dd/mm: not a range.
    start.fill("10/31/2023")
    tab.click("#range-apply")
    tab.wait_for_url("**from=10%2F31%2F2023*")
    assert tab.locator("#range-summary").get_attribute("data-start") is None


def test_this_year_is_marked_partial_and_ends_on_the_last_day_with_data(
    page: Any, server: Server
) -> None:
    as_of = server.api("/v1/kpis/summary")["analytics_as_of"]
    sign_in(page, server)
    page.click("[data-range=year]")
    page.wait_for_url("**range=year*")
    assert page.locator("[data-range=year]").get_attribute("aria-current") == "true"
    summary = page.locator("#range-summary")
    assert summary.get_attribute("data-start") == f"{as_of[:4]}-01-01"
    assert summary.get_attribute("data-end") == as_of
    assert page.locator("#range-partial").is_visible()
    # The whole history has no previous period: no comparison line on the cards.
    page.click("[data-range=all]")
    page.wait_for_url("**range=all*")
    assert page.locator("[data-previous]").count() == 0


def test_filters_travel_with_the_navigation_and_the_exports(page: Any, server: Server) -> None:
    sign_in(page, server, "/dashboard/customers")
    page.select_option("#filter-state", "SP")
    page.click("#filter-apply")
    page.wait_for_url("**/dashboard/customers?*state=SP*")
    total = int(page.locator("[data-total]").get_attribute("data-total"))
    assert total == brand_customers(server, Customer.state == "SP") > 0
    assert page.locator("#filters-ignored").count() == 0  # the list applies every filter
    cities = page.locator("tr[data-customer] td:nth-child(4)").all_inner_texts()
    assert cities
    assert all(text.endswith("/ SP") for text in cities)
    # The export downloads exactly the filtered rows.
    href = page.locator("[data-export=customers-csv]").get_attribute("href")
    assert "state=SP" in href
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    body = httpx.get(server.url + href, cookies=cookies, timeout=20).text
    assert len(list(csv.reader(io.StringIO(body)))) - 1 == total
    # Every navigation link carries the filter; a page that cannot apply it says so.
    for link in page.locator("#site-nav a[data-nav]").all():
        assert "state=SP" in (link.get_attribute("href") or "")
    page.goto(server.url + "/dashboard?state=SP")
    assert page.locator("#filters-ignored").is_visible()
    assert page.locator("#filters-ignored").get_attribute("data-ignored") == "state"
    assert page.locator("#filter-state").input_value() == "SP"
    screenshot(page, "desktop-pt-BR-overview-filter-not-applied")
    page.goto(server.url + "/dashboard/churn?state=SP")
    assert page.locator("#filters-ignored").count() == 0
    screenshot(page, "desktop-pt-BR-churn-filtered")


@pytest.mark.parametrize("locale", ["pt-BR", "en"])
def test_the_clusters_page_describes_every_cluster_in_words(
    page: Any, server: Server, locale: str
) -> None:
    clusters = pd.read_parquet(server.home / "analytics" / server.slug / "clusters.parquet")
    sign_in(page, server, "/dashboard/clusters")
    if locale == "en":
        page.click("#lang-switch")
        page.wait_for_url("**/dashboard/clusters")
    column = "description_pt" if locale == "pt-BR" else "description_en"
    assert page.locator(".cluster-list > li").count() == len(clusters)
    for row in clusters.to_dict("records"):
        card = page.locator(f".cluster-list > li[data-cluster='{int(row['cluster'])}']")
        words = card.locator("[data-description]").inner_text()
        assert words.lower() == row[column].lower() + "."
    screenshot(page, f"desktop-{locale}-clusters-page")


@pytest.mark.parametrize("locale", ["pt-BR", "en"])
def test_the_range_and_the_filters_fit_a_phone(tab_at: Any, server: Server, locale: str) -> None:
    tab = tab_at("phone")
    sign_in(tab, server, f"/dashboard?range=custom&from={FROM}&to={TO}")
    if locale == "en":
        tab.click("#lang-switch")
        tab.wait_for_url("**/dashboard?*")
    assert tab.locator("[data-change=orders]").is_visible()
    assert tab.evaluate("document.documentElement.scrollWidth") <= 391
    screenshot(tab, f"phone-{locale}-overview-range")
    tab.goto(server.url + "/dashboard/clusters")
    assert tab.evaluate("document.documentElement.scrollWidth") <= 391
    screenshot(tab, f"phone-{locale}-clusters-page")


def test_every_rfm_segment_shows_its_suggested_action(page: Any, server: Server) -> None:
    segments = server.api("/v1/segments")["items"]
    sign_in(page, server, "/dashboard/rfm")
    with_action = [s["segment"] for s in segments if s["segment"] in SEGMENT_ACTIONS]
    assert with_action
    for key in with_action:
        row = page.locator(f"tr[data-segment='{key}'] .action")
        assert row.inner_text() == SEGMENT_ACTIONS[key][0]
    page.goto(server.url + f"/dashboard/customers?segment={with_action[0]}")
    assert page.locator("[data-action]").inner_text() == SEGMENT_ACTIONS[with_action[0]][0]
