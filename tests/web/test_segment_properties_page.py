"""Customer properties in the segment builder (real Chromium): the brand's properties are
listed as fields with their type's operators, a rule over one previews and saves the
members the test wrote, and the segment's page says the rule in words; both languages,
desktop and phone, no English in pt-BR."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from test_portuguese_pages import english_fragments, visible_text
from webtest import VIEWPORTS, Server, screenshot, sign_in

from recompra.db import make_engine, unit_of_work
from recompra.hub.properties import write_properties
from recompra.models import Brand, BrandCustomer
from recompra.models.base import utcnow
from recompra.segments.definition import parse_definition
from recompra.segments.service import apply_definition

pytestmark = pytest.mark.browser

PLAN = "plano_teste"
KEY = "plano_ouro"
GOLD = 4  # the first customers of the brand get "ouro", the next three "prata"
SILVER = {
    "key": "plano_prata",
    "name": {"pt-BR": "Plano prata", "en": "Silver plan"},
    "rule": {
        "any": [
            {"field": f"property.{PLAN}", "op": "in", "value": ["prata"]},
            {"field": f"property.{PLAN}", "op": "contains", "value": "rat"},
        ]
    },
}


def _seed_properties(server: Server) -> None:
    """Write the property on the brand's customers (the same values on every call)."""
    engine = make_engine(server.database_url)
    with unit_of_work(engine) as session:
        brand_id = session.scalar(select(Brand.id).where(Brand.slug == server.slug))
        assert brand_id is not None
        customers = session.scalars(
            select(BrandCustomer.customer_id)
            .where(BrandCustomer.brand_id == brand_id)
            .order_by(BrandCustomer.customer_id)
            .limit(GOLD + 3)
        ).all()
        for i, customer_id in enumerate(customers):
            write_properties(
                session,
                brand_id=brand_id,
                customer_id=customer_id,
                values={PLAN: "ouro" if i < GOLD else "prata"},
                replace=False,
                now=utcnow(),
            )
        # A saved segment over the property (applying it again changes nothing).
        apply_definition(session, brand_id=brand_id, definition=parse_definition(SILVER))
    engine.dispose()


def _choose_property(page: Any, op: str, value: str) -> None:
    page.locator("#rule-root .cond .cond-field").first.select_option(f"property.{PLAN}")
    page.locator("#rule-root .cond .cond-op").first.select_option(op)
    page.locator("#rule-root .cond .cond-value").first.fill(value)


def test_a_property_rule_is_built_previewed_and_saved(tab_at: Any, server: Server) -> None:
    _seed_properties(server)
    page = tab_at("desktop")
    sign_in(page, server, "/dashboard/segments/new")
    page.fill("#seg-key", KEY)
    page.fill("#seg-name-pt", "Plano ouro")
    page.fill("#seg-name-en", "Gold plan")
    ops = page.locator("#rule-root .cond .cond-field").first.select_option(f"property.{PLAN}")
    assert ops == [f"property.{PLAN}"]
    offered = page.locator("#rule-root .cond .cond-op option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    assert offered == ["eq", "ne", "in", "not_in", "contains", "is_null", "is_not_null"]
    _choose_property(page, "eq", "ouro")
    document = json.loads(page.input_value("#seg-json"))
    assert document["rule"] == {"all": [{"field": f"property.{PLAN}", "op": "eq", "value": "ouro"}]}

    page.click("#seg-preview")
    page.locator("#preview-summary").wait_for()
    assert int(page.locator("#preview-summary").get_attribute("data-members")) == GOLD
    page.click("#seg-save")
    page.wait_for_url(f"**/dashboard/segments/{KEY}")
    assert int(page.locator("[data-segment-members]").get_attribute("data-segment-members")) == (
        GOLD
    )
    assert f"Propriedade {PLAN} é igual a ouro" in page.locator("#rule").inner_text()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["pt-BR", "en"])
def test_the_builder_with_a_property_in_both_languages_and_sizes(
    tab_at: Any, server: Server, viewport: str, lang: str
) -> None:
    _seed_properties(server)
    page = tab_at(viewport)
    sign_in(page, server, "/dashboard/segments/new")
    if lang == "en":
        page.click("#lang-switch")
        page.goto(server.url + "/dashboard/segments/new")
    _choose_property(page, "contains", "our")
    group = page.locator("#rule-root .cond .cond-field optgroup").last.get_attribute("label")
    assert group == ("Propriedades do cliente" if lang == "pt-BR" else "Customer properties")
    _check(page, f"segment-property-builder-{lang}-{viewport}", viewport, lang)
    page.goto(server.url + f"/dashboard/segments/{SILVER['key']}")
    words = page.locator("#rule").inner_text()
    assert (
        f"Propriedade {PLAN} contém rat" if lang == "pt-BR" else f"Property {PLAN} contains rat"
    ) in words
    _check(page, f"segment-property-page-{lang}-{viewport}", viewport, lang)
    page.goto(server.url + f"/dashboard/segments/{SILVER['key']}/edit")
    assert page.locator("#rule-root .cond .cond-field").first.input_value() == f"property.{PLAN}"
    _check(page, f"segment-property-edit-{lang}-{viewport}", viewport, lang)


def _check(page: Any, name: str, viewport: str, lang: str) -> None:
    """Screenshot; nothing wider than the viewport; no English in pt-BR."""
    screenshot(page, name)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport][0] + 1, (name, width)
    if lang == "pt-BR":
        leaks = sorted(f for f in english_fragments() if f in visible_text(page))
        assert not leaks, (name, leaks)
    else:
        assert page.locator("html").get_attribute("lang") == "en"
