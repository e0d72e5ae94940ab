"""The dashboard in real Chromium: sign-in, every page, language switch, drill-down, numbers."""

from __future__ import annotations

from typing import Any

import pytest
from webtest import Server

from recompra.web.format import format_money, format_number

pytestmark = pytest.mark.browser

PAGES = {
    "/dashboard": ("Visão geral", "Overview"),
    "/dashboard/rfm": ("RFV e segmentos", "RFM & segments"),
    "/dashboard/customers": ("Clientes", "Customers"),
    "/dashboard/cohorts": ("Retenção por coorte mensal", "Monthly cohort retention"),
    "/dashboard/clv": ("Valor do cliente (CLV)", "Customer value (CLV)"),
    "/dashboard/churn": ("Clientes com maior risco de churn", "Customers most at risk of churning"),
    "/dashboard/loyalty": ("Programa de fidelidade", "Loyalty program"),
    "/dashboard/models": ("Back-tests dos modelos", "Model back-tests"),
}


def sign_in(page: Any, server: Server, next_path: str = "/dashboard") -> None:
    page.goto(server.url + next_path)
    page.fill("input[name=email]", server.email)
    page.fill("input[name=password]", server.password)
    page.click("#sign-in")
    page.wait_for_url(f"**{next_path}")


def test_pages_require_sign_in_and_wrong_password_is_refused(page: Any, server: Server) -> None:
    page.goto(server.url + "/dashboard/rfm")
    assert "/login" in page.url
    page.fill("input[name=email]", server.email)
    page.fill("input[name=password]", "wrong-password")
    page.click("#sign-in")
    assert page.locator("p.error").inner_text() == "E-mail ou senha inválidos."
    page.fill("input[name=email]", server.email)
    page.fill("input[name=password]", server.password)
    page.click("#sign-in")
    page.wait_for_url("**/dashboard/rfm")


def test_every_page_opens_in_both_languages(page: Any, server: Server) -> None:
    sign_in(page, server)
    for path, (pt, _) in PAGES.items():
        response = page.goto(server.url + path)
        assert response.status == 200, path
        assert page.locator("h1").inner_text() == pt, path
        assert page.locator("html").get_attribute("lang") == "pt-BR"
    page.goto(server.url + "/dashboard")
    page.click("#lang-switch")
    page.wait_for_url("**/dashboard")
    for path, (_, en) in PAGES.items():
        page.goto(server.url + path)
        assert page.locator("h1").inner_text() == en, path
        assert page.locator("html").get_attribute("lang") == "en"


def test_overview_numbers_equal_the_api_in_each_locale(page: Any, server: Server) -> None:
    summary = server.api("/v1/kpis/summary")
    sign_in(page, server)
    for locale in ("pt-BR", "en"):
        if locale == "en":
            page.click("#lang-switch")
            page.wait_for_url("**/dashboard")
        for key in ("revenue_minor", "aov_minor", "historic_clv_minor", "predicted_clv_minor"):
            cell = page.locator(f"[data-kpi={key}]")
            assert int(cell.get_attribute("data-value")) == summary[key]
            assert cell.inner_text() == format_money(summary[key], locale)
        for key in ("orders", "customers"):
            cell = page.locator(f"[data-kpi={key}]")
            assert cell.inner_text() == format_number(summary[key], locale)
    # The pt-BR money format really differs from the en one.
    assert format_money(123456, "pt-BR") == "R$\u00a01.234,56"
    assert format_money(123456, "en") == "R$1,234.56"


def test_drill_from_rfm_cell_to_customer(page: Any, server: Server) -> None:
    grid = server.api("/v1/rfm")
    cell = max(grid["cells"], key=lambda c: c["customers"])
    sign_in(page, server, "/dashboard/rfm")
    link = page.locator(f"[data-cell='{cell['r']}-{cell['f']}']")
    assert int(link.get_attribute("data-count")) == cell["customers"]
    link.click()
    page.wait_for_url(f"**/dashboard/customers?r={cell['r']}&f={cell['f']}")
    rows = page.locator("tr[data-customer]")
    assert rows.count() == cell["customers"]
    customer_id = int(rows.first.get_attribute("data-customer"))
    rows.first.locator("a").click()
    page.wait_for_url(f"**/dashboard/customers/{customer_id}")
    profile = server.api(f"/v1/customers/{customer_id}")
    orders = page.locator("[data-stat=orders]")
    assert int(orders.get_attribute("data-value")) == profile["stats"]["orders"]
    spent = page.locator("[data-stat=spent_minor]")
    assert int(spent.get_attribute("data-value")) == profile["stats"]["spent_minor"]
    clv = page.locator("[data-score=clv_minor]")
    assert int(clv.get_attribute("data-value")) == profile["score"]["clv_minor"]
    assert page.locator(".timeline li").count() >= profile["stats"]["orders"]


def test_segment_table_matches_api(page: Any, server: Server) -> None:
    segments = server.api("/v1/segments")
    sign_in(page, server, "/dashboard/rfm")
    for item in segments["items"]:
        row = page.locator(f"tr[data-segment='{item['segment']}'] td[data-value]")
        assert int(row.get_attribute("data-value")) == item["customers"]


def test_loyalty_page_numbers_equal_the_api(page: Any, server: Server) -> None:
    totals = server.api("/v1/loyalty/summary")
    tiers = server.api("/v1/loyalty/tiers")
    assert totals["issued"] > 0
    assert totals["redeemed"] == 10
    sign_in(page, server, "/dashboard/loyalty")
    for key in ("issued", "redeemed", "outstanding", "accounts"):
        shown = page.locator(f"[data-loyalty={key}]").inner_text()
        assert shown == format_number(totals[key], "pt-BR")
    for tier in tiers:
        shown = page.locator(f"[data-tier={tier['code']}]").inner_text()
        assert shown == format_number(tier["accounts"], "pt-BR")
    assert "Cupom R$ 10" in page.locator("main").inner_text()


def test_empty_states_are_honest(page: Any, server: Server) -> None:
    sign_in(page, server, "/dashboard/models")
    assert "recompra predict --backtest" in page.locator("[data-empty]").inner_text()


def test_phone_layout_has_a_menu(browser: Any, server: Server) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    tab = context.new_page()
    try:
        sign_in(tab, server)
        assert tab.locator("details.menu summary").is_visible()
        tab.click("details.menu summary")
        tab.click("[data-nav=churn]")
        tab.wait_for_url("**/dashboard/churn")
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1
    finally:
        context.close()
