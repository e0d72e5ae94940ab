"""The customers list (pagination, search), exports with the filters, profile and loyalty."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from webtest import LIST_CUSTOMERS, SEARCH_CPF, Server, brand_customers, screenshot, sign_in

from recompra.db import make_engine, unit_of_work
from recompra.formatting import format_money, format_number
from recompra.models.loyalty import LoyaltyAccount

pytestmark = pytest.mark.browser


def test_the_customers_list_paginates_with_a_total(page: Any, server: Server) -> None:
    total = brand_customers(server)
    assert total >= LIST_CUSTOMERS > 2 * 50  # three pages of 50
    sign_in(page, server, "/dashboard/customers")
    assert int(page.locator("[data-total]").get_attribute("data-total")) == total
    seen: list[str] = []
    while True:
        seen += [r.get_attribute("data-customer") for r in page.locator("tr[data-customer]").all()]
        following = page.locator("[data-page=next]")
        if following.count() == 0:
            break
        following.click()
        page.wait_for_load_state()
    assert len(seen) == total
    assert len(set(seen)) == total  # every customer once, on exactly one page
    # Sorting by id, descending: the first row is the highest id.
    page.goto(server.url + "/dashboard/customers?sort=-id")
    first = int(page.locator("tr[data-customer]").first.get_attribute("data-customer"))
    assert first == max(int(s) for s in seen)


@pytest.mark.parametrize(
    "term",
    [SEARCH_CPF, "529.982.247-25", "(11) 98765-4321", "name", "e-mail"],
)
def test_search_finds_the_customer_by_name_email_cpf_and_phone(
    page: Any, server: Server, term: str
) -> None:
    profile = server.api(f"/v1/customers/{server.searchable_id}")
    query = {"name": profile["name"], "e-mail": profile["email"]}.get(term, term)
    sign_in(page, server, "/dashboard/customers")
    page.fill("input[name=q]", query)
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard/customers?q=*")
    ids = [int(r.get_attribute("data-customer")) for r in page.locator("tr[data-customer]").all()]
    assert server.searchable_id in ids
    if term != "name":  # names in the sample repeat a first and last name plus an index
        assert ids == [server.searchable_id]
    screenshot(page, f"desktop-pt-BR-customers-search-{term.replace(' ', '')[:12]}")


def _download(page: Any, selector: str) -> bytes:
    with page.expect_download() as info:
        page.click(selector)
    path = info.value.path()
    with open(path, "rb") as handle:
        return handle.read()


def test_exports_download_the_filtered_rows(page: Any, server: Server) -> None:
    members = server.api("/v1/segments/customers?segment=at_risk&limit=500")["items"]
    assert members
    sign_in(page, server, "/dashboard/customers?segment=at_risk")
    body = _download(page, "[data-export=customers-csv]").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [int(r["id"]) for r in rows] == [m["id"] for m in members]
    assert {r["Segmento"] for r in rows} == {"Em risco"}
    book = load_workbook(io.BytesIO(_download(page, "[data-export=customers-xlsx]")))
    sheet = book.active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        m["id"] for m in members
    ]
    # A search exports its matches only; the CSV opens in Excel with accents intact.
    page.goto(server.url + f"/dashboard/customers?q={SEARCH_CPF}")
    body = _download(page, "[data-export=customers-csv]").decode("utf-8-sig")
    assert [r["id"] for r in csv.DictReader(io.StringIO(body))] == [str(server.searchable_id)]
    churn = server.api("/v1/scores/churn?limit=500")
    page.goto(server.url + "/dashboard/churn")
    book = load_workbook(io.BytesIO(_download(page, "[data-export=churn-xlsx]")))
    values = [row for row in book.active.iter_rows(min_row=2, values_only=True)]
    assert [v[0] for v in values] == [item["id"] for item in churn["items"]]


def test_unknown_exports_are_404(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post("/login", data={"email": server.email, "password": server.password})
        assert client.get("/dashboard/export/passwords.csv").status_code == 404
        assert client.get("/dashboard/export/customers.pdf").status_code == 404


def test_profile_shows_pending_points_and_tier(page: Any, server: Server) -> None:
    owner = server.api("/v1/loyalty/summary")
    balances = [server.api(f"/v1/loyalty/customers/{cid}") for cid in _loyalty_customers(server)]
    with_pending = next(b for b in balances if b["pending"] or b["balance"])
    sign_in(page, server, f"/dashboard/customers/{with_pending['customer_id']}")
    card = page.locator("#points")
    assert card.locator("[data-points=pending]").inner_text() == format_number(
        with_pending["pending"], "pt-BR"
    )
    assert card.locator("[data-points=balance]").inner_text() == format_number(
        with_pending["balance"], "pt-BR"
    )
    tier = with_pending["tier"]["name"] if with_pending["tier"] else "Sem nível"
    assert card.locator("[data-points=tier]").inner_text() == tier
    assert owner["accounts"] >= 1
    screenshot(page, "desktop-pt-BR-customer-points")


def _loyalty_customers(server: Server) -> list[int]:
    engine = make_engine(server.database_url)
    try:
        with unit_of_work(engine, write=False) as session:
            return list(session.scalars(select(LoyaltyAccount.customer_id)))
    finally:
        engine.dispose()


def test_loyalty_page_shows_the_liability_in_money_and_the_redemptions(
    page: Any, server: Server
) -> None:
    totals = server.api("/v1/loyalty/summary")
    sign_in(page, server, "/dashboard/loyalty")
    liability = page.locator("[data-loyalty=liability_minor]")
    # The default rate: R$ 50,00 per 1,000 points, so each point is 5 centavos.
    assert int(liability.get_attribute("data-value")) == totals["outstanding"] * 5
    assert liability.inner_text() == format_money(totals["outstanding"] * 5, "pt-BR")
    rows = page.locator("#redemptions tr[data-redemption]")
    assert rows.count() == 1  # the fixture's one redemption
    assert "Cupom R$ 10" in rows.first.inner_text()
    assert "emitido" in rows.first.inner_text()
    screenshot(page, "desktop-pt-BR-loyalty-redemptions")
