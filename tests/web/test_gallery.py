"""A screenshot of every dashboard page for review, in real Chromium: 1366 px in pt-BR and
390 px in en, saved as ``gallery-<page>-<width>-<language>.png`` under the screenshots
directory (CI keeps it as an artefact).

The pages are the ones the visible navigation links to (checked against ``NAVIGATION``)
plus those reached from them: a customer's profile, a segment, the segment editor, a
case, the administration tabs and the styled 404. Every page must fit a 390 px phone
without horizontal scrolling, and no chart may cut a label: every SVG ``<text>`` box lies
inside its ``<svg>`` (an SVG clips what overflows it, as the overview's last month,
"jan. de 202", once was).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from webtest import VIEWPORTS, Server, screenshot, sign_in

from recompra.db import make_engine, unit_of_work
from recompra.models import Brand
from recompra.models.base import utcnow
from recompra.segments.definition import parse_definition
from recompra.segments.service import apply_definition
from recompra.voc.cases import NewCase, open_case
from recompra.web.context import NAVIGATION

pytestmark = pytest.mark.browser

#: (viewport, language) of the two galleries.
GALLERIES = [("desktop", "pt-BR"), ("phone", "en")]
#: The browser's own locale for each page language (date inputs, number parsing).
BROWSER_LOCALES = {"pt-BR": "pt-BR", "en": "en-US"}

#: The labels of every visible chart whose box leaves its SVG's box (half a pixel slack).
CLIPPED_LABELS = """() => {
  const clipped = [];
  for (const svg of document.querySelectorAll('svg')) {
    const frame = svg.getBoundingClientRect();
    if (frame.width === 0) continue;  // not shown (a closed menu, another tab)
    for (const text of svg.querySelectorAll('text')) {
      const box = text.getBoundingClientRect();
      if (box.width === 0) continue;
      if (box.left < frame.left - 0.5 || box.right > frame.right + 0.5
          || box.top < frame.top - 0.5 || box.bottom > frame.bottom + 0.5) {
        clipped.push(text.textContent);
      }
    }
  }
  return clipped;
}"""


#: A live segment of the gallery's own, so its detail page has something to show.
SEGMENT = {
    "key": "gallery_sp",
    "name": {"pt-BR": "Galeria: clientes de SP", "en": "Gallery: SP customers"},
    "rule": {"all": [{"field": "state", "op": "eq", "value": "SP"}]},
}


@pytest.fixture(scope="module")
def case_id(server: Server) -> int:
    """One case and one live segment of the server's brand, so the case and segment pages
    have something to show; the case's id."""
    engine = make_engine(server.database_url)
    with unit_of_work(engine) as session:
        brand_id = session.scalar(select(Brand.id).where(Brand.slug == server.slug))
        assert brand_id is not None
        apply_definition(session, brand_id=brand_id, definition=parse_definition(SEGMENT))
        # type, priority, channel, subject
        late = NewCase(
            "complaint",
            "normal",
            "email",
            "Galeria: pedido atrasado",
            customer_id=server.searchable_id,
        )
        new = open_case(session, brand_id=brand_id, new=late, actor="gal@loja.test", now=utcnow())
        created = new.id
    engine.dispose()
    return created


def _nav_pages(tab: Any) -> dict[str, str]:
    """The pages the navigation links to, by their ``data-nav`` key (hidden menus too)."""
    links = tab.evaluate(
        "() => [...document.querySelectorAll('#site-nav a[data-nav]')]"
        ".map(a => [a.dataset.nav, a.getAttribute('href')])"
    )
    return {key: href for key, href in links}


@pytest.mark.parametrize(("viewport", "locale"), GALLERIES)
def test_gallery_of_every_page(
    browser: Any, server: Server, case_id: int, viewport: str, locale: str
) -> None:
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        is_mobile=viewport == "phone",
        locale=BROWSER_LOCALES[locale],
    )
    try:
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        sign_in(tab, server)
        if locale == "en":
            tab.goto(server.url + "/dashboard/lang?to=en&next=/dashboard")
            tab.wait_for_url("**/dashboard")
        navigation = _nav_pages(tab)
        assert set(navigation) == {key for key, _ in NAVIGATION}
        pages = {key.replace("_", "-"): href for key, href in navigation.items()}
        pages |= {
            "customer": f"/dashboard/customers/{server.searchable_id}",
            "segment": f"/dashboard/segments/{SEGMENT['key']}",
            "segment-new": "/dashboard/segments/new",
            "case": f"/dashboard/cases/{case_id}",
            "admin-keys": "/dashboard/admin/keys",
            "admin-privacy": "/dashboard/admin/privacy",
            "notfound": "/dashboard/no-such-page",
        }
        problems: list[str] = []
        for name, href in pages.items():
            response = tab.goto(server.url + href)
            assert response is not None
            expected = 404 if name == "notfound" else 200
            if response.status != expected:
                problems.append(f"{name}: HTTP {response.status}")
            screenshot(tab, f"gallery-{name}-{width}-{locale}")
            overflow = tab.evaluate(
                "() => document.scrollingElement.scrollWidth - window.innerWidth"
            )
            if viewport == "phone" and overflow > 0:
                problems.append(f"{name}: {overflow} px wider than the phone")
            clipped = tab.evaluate(CLIPPED_LABELS)
            if clipped:
                problems.append(f"{name}: clipped chart labels {clipped}")
        assert problems == []
    finally:
        context.close()
