"""The live segments pages in real Chromium: the builder writes the same definition a
user would post to the API, previews it, saves it; the segment's page shows the rule in
words and downloads every member; writes need the session's CSRF token; both languages,
desktop and phone, with no English in pt-BR and nothing wider than the phone."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from test_portuguese_pages import english_fragments, visible_text
from webtest import VIEWPORTS, Server, screenshot, sign_in

from recompra.db import make_engine, unit_of_work
from recompra.models import Brand, Customer
from recompra.segments.definition import parse_definition
from recompra.segments.service import apply_definition

pytestmark = pytest.mark.browser

KEY = "sp_compradores"
EXPECTED = {
    "key": KEY,
    "name": {"pt-BR": "Compradores de SP", "en": "SP buyers"},
    "rule": {
        "all": [
            {"field": "state", "op": "eq", "value": "SP"},
            {
                "any": [
                    {"field": "orders", "op": "gte", "value": 1},
                    {"field": "net_revenue", "op": "gte", "value": 100},
                ]
            },
        ]
    },
}


def _build(page: Any) -> None:
    """Build EXPECTED's rule with the builder's controls only."""
    page.fill("#seg-key", KEY)
    page.fill("#seg-name-pt", "Compradores de SP")
    page.fill("#seg-name-en", "SP buyers")
    page.locator("#rule-root .cond .cond-value").first.fill("SP")
    page.locator("#rule-root > fieldset > .group-actions .add-group").click()
    inner = "#rule-root > fieldset > .group-body > fieldset"
    page.locator(f"{inner} .cond .cond-field").first.select_option("orders")
    page.locator(f"{inner} .cond .cond-op").first.select_option("gte")
    page.locator(f"{inner} .cond .cond-value").first.fill("1")
    page.locator(f"{inner} > .group-actions .add-condition").click()
    page.locator(f"{inner} .cond .cond-field").nth(1).select_option("net_revenue")
    page.locator(f"{inner} .cond .cond-op").nth(1).select_option("gte")
    page.locator(f"{inner} .cond .cond-value").nth(1).fill("100")


def test_build_preview_save_and_download(tab_at: Any, server: Server) -> None:
    page = tab_at("desktop")
    sign_in(page, server, "/dashboard/segments/new")
    _build(page)
    assert json.loads(page.input_value("#seg-json")) == EXPECTED

    page.click("#seg-preview")
    previewed = int(page.locator("#preview-summary").get_attribute("data-members"))
    by_api = httpx.post(
        server.url + "/v1/live-segments/preview",
        json=EXPECTED,
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=30,
    )
    assert by_api.status_code == 200, by_api.text
    assert previewed == by_api.json()["members"] > 0

    page.click("#seg-save")
    page.wait_for_url(f"**/dashboard/segments/{KEY}")
    shown = int(page.locator("[data-segment-members]").get_attribute("data-segment-members"))
    assert shown == previewed
    rule = page.locator("#rule").inner_text().replace("\xa0", " ")  # Babel: no-break space
    assert "Estado (UF) é igual a SP" in rule
    assert "Receita líquida maior ou igual a R$ 100,00" in rule

    downloaded = page.request.get(f"{server.url}/dashboard/segments/{KEY}/members.csv")
    rows = list(csv.DictReader(io.StringIO(downloaded.body().decode("utf-8-sig"))))
    assert len(rows) == shown
    assert all(r["state"] == "SP" for r in rows)
    book = page.request.get(f"{server.url}/dashboard/segments/{KEY}/members.xlsx")
    sheet = load_workbook(io.BytesIO(book.body()), read_only=True)[KEY]
    assert sum(1 for _ in sheet.iter_rows(min_row=2)) == shown

    # The list shows it; editing loads the saved rule back into the builder.
    page.goto(server.url + "/dashboard/segments")
    assert page.locator(f'tr[data-segment="{KEY}"] [data-members]').inner_text()
    page.goto(f"{server.url}/dashboard/segments/{KEY}/edit")
    assert json.loads(page.input_value("#seg-json")) == EXPECTED


def test_a_refused_definition_lists_its_problems_and_saves_nothing(
    tab_at: Any, server: Server
) -> None:
    page = tab_at("desktop")
    sign_in(page, server, "/dashboard/segments/new")
    page.fill("#seg-key", "Chave Inválida")
    page.fill("#seg-name-pt", "x")
    page.fill("#seg-name-en", "x")
    page.locator("#rule-root .cond .cond-field").first.select_option("orders")
    page.locator("#rule-root .cond .cond-value").first.fill("muitos")
    page.click("#seg-save")
    problems = page.locator("ul.problems li")
    problems.first.wait_for()
    paths = [p.split(" ")[0] for p in problems.all_inner_texts()]
    assert "key" in paths
    assert "rule.all[0].value" in paths
    assert page.url.endswith("/dashboard/segments/new")


def test_writes_without_the_csrf_token_are_refused(tab_at: Any, server: Server) -> None:
    page = tab_at("desktop")
    sign_in(page, server, "/dashboard/segments")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    for headers in ({"Content-Type": "application/json"}, {"X-CSRF-Token": "forged"}):
        response = httpx.post(
            server.url + "/dashboard/segments",
            json=EXPECTED,
            headers=headers,
            cookies=cookies,
            timeout=30,
        )
        assert response.status_code == 403


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["pt-BR", "en"])
def test_pages_in_both_languages_and_sizes(
    tab_at: Any, server: Server, viewport: str, lang: str
) -> None:
    page = tab_at(viewport)
    sign_in(page, server, "/dashboard/segments")
    if lang == "en":
        page.click("#lang-switch")
    existing = page.locator("tr[data-segment]").first
    key = existing.get_attribute("data-segment") if existing.count() else None
    paths = ["/dashboard/segments", "/dashboard/segments/new"]
    if key:
        paths += [f"/dashboard/segments/{key}", f"/dashboard/segments/{key}/edit"]
    fragments = english_fragments()
    for path in paths:
        page.goto(server.url + path)
        name = path.strip("/").replace("/", "-").replace(key or "-", "segment")
        screenshot(page, f"{name}-{lang}-{viewport}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS[viewport][0] + 1, (path, width)
        if lang == "pt-BR":
            text = visible_text(page)
            leaks = sorted(f for f in fragments if f in text)
            assert not leaks, (path, leaks)
        else:
            assert page.locator("html").get_attribute("lang") == "en"


def test_recent_entries_name_the_customers(tab_at: Any, server: Server) -> None:
    key = "entradas_recentes_rj"
    engine = make_engine(server.database_url)
    try:
        with unit_of_work(engine) as session:
            brand_id = session.scalar(select(Brand.id).where(Brand.slug == server.slug))
            definition = parse_definition(
                {
                    "key": key,
                    "name": {"pt-BR": "Clientes do RJ", "en": "RJ customers"},
                    "rule": {"field": "state", "op": "eq", "value": "RJ"},
                }
            )
            apply_definition(session, brand_id=brand_id, definition=definition)
        with unit_of_work(engine, write=False) as session:
            names = dict(session.execute(select(Customer.id, Customer.name)).all())
    finally:
        engine.dispose()
    page = tab_at("desktop")
    sign_in(page, server, f"/dashboard/segments/{key}")
    links = page.locator("#history [data-history-customer]")
    shown = {
        int(link.get_attribute("data-history-customer") or 0): link.inner_text()
        for link in links.all()
    }
    assert shown
    assert shown == {customer: names[customer] for customer in shown}
