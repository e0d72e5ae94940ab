"""The dashboard in real Chromium: sign-in, every page, language switch, drill-down, numbers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from webtest import Server, screenshot, sign_in

from recompra.formatting import format_money, format_number

pytestmark = pytest.mark.browser

PAGES = {
    "/dashboard": ("Visão geral", "Overview"),
    "/dashboard/rfm": ("RFV e segmentos", "RFM & segments"),
    "/dashboard/customers": ("Clientes", "Customers"),
    "/dashboard/cohorts": ("Retenção por coorte mensal", "Monthly cohort retention"),
    "/dashboard/clv": ("Valor do cliente (CLV)", "Customer value (CLV)"),
    "/dashboard/churn": ("Clientes com maior risco de churn", "Customers most at risk of churning"),
    "/dashboard/loyalty": ("Programa de fidelidade", "Loyalty program"),
    "/dashboard/voc": ("Voz do cliente", "Voice of the customer"),
    "/dashboard/journeys": ("Jornadas pós-venda", "Post-sale journeys"),
    "/dashboard/models": ("Back-tests dos modelos", "Model back-tests"),
    "/dashboard/glossary": ("Glossário dos indicadores", "Metrics glossary"),
}


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
    assert int(page.locator("[data-total]").get_attribute("data-total")) == cell["customers"]
    assert rows.count() == min(cell["customers"], 50)
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
    empty = page.locator("[data-empty=empty\\.models]")
    assert "ainda não foram gerados" in empty.inner_text()
    # The manager reads no command; the administrator finds it behind a disclosure.
    assert "recompra" not in empty.inner_text()
    empty.locator("summary").click()
    assert f"recompra predict --backtest --brand {server.slug}" in empty.inner_text()


def test_phone_layout_has_a_menu(browser: Any, server: Server) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    tab = context.new_page()
    try:
        sign_in(tab, server)
        assert tab.locator("#menu-toggle").is_visible()
        assert not tab.locator("[data-nav=churn]").is_visible()
        tab.click("#menu-toggle")
        tab.click("[data-nav=churn]")
        tab.wait_for_url("**/dashboard/churn")
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1
    finally:
        context.close()


def test_models_page_shows_the_backtests(
    page: Any, server: Server, backtests: dict[str, Any]
) -> None:
    sign_in(page, server, "/dashboard/models")
    assert page.locator("#backtests tr[data-model]").count() == 2
    chosen = page.locator("#backtests tr[data-chosen]")
    assert chosen.get_attribute("data-model") == "pareto"
    assert chosen.locator("[data-metric=mae]").inner_text() == format_number(0.628, "pt-BR", 3)
    assert page.locator("#churn-models tr[data-chosen]").get_attribute("data-method") == "model"
    # The plain-language summary: 121 test days, 1 - 0.628 / 0.876 = 28% better.
    summary = page.locator("[data-summary=purchases]").inner_text()
    assert "121 dias" in summary
    assert "0,63" in summary
    assert "28%" in summary
    assert page.locator("[data-rule]").inner_text() == (
        "Critério de escolha: o menor MAE no período de teste."
    )
    assert "Brier menor ou igual" in page.locator("[data-churn-choice]").inner_text()
    # The tracking chart is drawn by the dashboard from the report, two lines (in the
    # drawing shown at this width: one per layout is in the page).
    assert page.locator("#tracking svg.chart:visible path.line").count() == 2
    screenshot(page, "desktop-pt-BR-models-backtests")


def test_overview_and_segments_show_the_analytics_outputs(page: Any, server: Server) -> None:
    summary = server.api("/v1/kpis/summary")
    sign_in(page, server)
    as_of = page.locator("[data-analytics-as-of]")
    assert as_of.get_attribute("data-analytics-as-of") == summary["analytics_as_of"]
    assert page.locator("[data-kpi=retention_rate]").get_attribute("data-value") == str(
        summary["retention_rate"]
    )
    segments = server.api("/v1/segments")
    page.goto(server.url + "/dashboard/rfm")
    for item in segments["items"]:
        row = page.locator(f"tr[data-segment='{item['segment']}']")
        assert row.locator("td[data-value]").get_attribute("data-value") == str(item["customers"])
    if any(item["segment"] == "new_customers" for item in segments["items"]):
        row = page.locator("tr[data-segment='new_customers']")
        assert row.locator("a").inner_text() == "Novos clientes"


def test_not_analysed_brand_shows_a_friendly_empty_state(page: Any, server: Server) -> None:
    outputs = server.home / "analytics" / server.slug
    hidden = server.home / "analytics-hidden"
    outputs.rename(hidden)
    try:
        response = httpx.get(
            server.url + "/v1/kpis/summary",
            headers={"Authorization": f"Bearer {server.api_key}"},
            timeout=10,
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "not_analysed"
        sign_in(page, server)
        for path in ("/dashboard", "/dashboard/cohorts", "/dashboard/rfm"):
            page.goto(server.url + path)
            empty = page.locator("[data-empty=not_analysed]")
            assert "Os indicadores ainda não foram calculados para esta loja." in (
                empty.inner_text()
            ), path
            assert "recompra" not in empty.inner_text(), path
            empty.locator("summary").click()
            assert f"recompra analyze --brand {server.slug}" in empty.inner_text(), path
        # The R x F grid comes from the scores, which exist: it still shows.
        assert page.locator("[data-cell]").count() > 0
        page.click("#lang-switch")
        page.wait_for_url("**/dashboard/rfm")
        text = page.locator("[data-empty=not_analysed]").inner_text()
        assert "The figures have not been calculated for this store yet." in text
    finally:
        hidden.rename(outputs)
