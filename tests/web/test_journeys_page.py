"""The journeys page in real Chromium at 1366 and 390 px, in pt-BR and en: journeys with
their counts per node (checked against the database), recent messages, and a preview
rendered for a real customer."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select
from webtest import JOURNEYS_AT, VIEWPORTS, Server, screenshot, sign_in

from recompra.db import make_engine, unit_of_work
from recompra.models import Customer
from recompra.models.automation import Journey, JourneyRun, OutboxMessage

pytestmark = pytest.mark.browser

HEADINGS = {"pt-BR": "Jornadas pós-venda", "en": "Post-sale journeys"}
PENDING_LABEL = {"pt-BR": "na fila", "en": "queued"}


def _database_counts(server: Server) -> dict[str, Any]:
    """What the page must show, counted here from the rows themselves."""
    engine = make_engine(server.database_url)
    try:
        with unit_of_work(engine, write=False) as session:
            runs = session.execute(
                select(
                    Journey.key,
                    JourneyRun.state,
                    JourneyRun.node,
                    JourneyRun.holdout,
                    JourneyRun.started_at,
                ).join(Journey, Journey.id == JourneyRun.journey_id)
            ).all()
            outbox = session.execute(
                select(OutboxMessage.execution_key, OutboxMessage.state, OutboxMessage.payload)
            ).all()
            last = session.execute(
                select(Customer.name)
                .join(JourneyRun, JourneyRun.customer_id == Customer.id)
                .join(Journey, Journey.id == JourneyRun.journey_id)
                .where(Journey.key == "post_purchase_thanks")
                .order_by(JourneyRun.started_at.desc(), JourneyRun.id.desc())
                .limit(1)
            ).scalar()
    finally:
        engine.dispose()
    per_node: Counter[tuple[str, str]] = Counter()
    for key, state, payload in outbox:
        node = key.split(":")[-2]
        label = f"suppressed_{payload.get('reason', 'consent')}" if state == "suppressed" else state
        per_node[(node, label)] += 1
    return {
        "entered": Counter(key for key, *_ in runs),
        "waiting": Counter(node for key, state, node, *_ in runs if state == "active"),
        # The runs the journeys fixture's six orders started (the measurement fixture adds
        # older, completed runs of the same journey).
        "fresh": Counter(key for key, *_, started in runs if started >= JOURNEYS_AT),
        "per_node": per_node,
        "outbox": len(outbox),
        "preview_customer": last,
    }


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("locale", ["pt-BR", "en"])
def test_the_journeys_page_shows_counts_per_node_messages_and_a_preview(
    browser: Any, server: Server, locale: str, viewport: str
) -> None:
    expected = _database_counts(server)
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=viewport == "phone"
    )
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    try:
        sign_in(tab, server)
        if locale == "en":
            tab.click("#lang-switch")
            tab.wait_for_url("**/dashboard")
        tab.goto(server.url + "/dashboard/journeys")
        assert tab.locator("h1").inner_text() == HEADINGS[locale]
        cards = tab.locator("[data-journey]")
        assert cards.count() == 4  # the four ready-made journeys
        thanks = tab.locator("[data-journey=post_purchase_thanks]")
        assert thanks.locator("[data-runs=entered]").get_attribute("data-value") == str(
            expected["entered"]["post_purchase_thanks"]
        )
        assert expected["fresh"]["post_purchase_thanks"] == 6  # six orders, one run each
        thank = thanks.locator("[data-node=thank]")
        per_node = expected["per_node"]
        for column, label in (
            ("pending", "pending"),
            ("held_out", "held_out"),
            ("consent", "suppressed_consent"),
        ):
            value = thank.locator(f"[data-count={column}]").get_attribute("data-value")
            assert value == str(per_node[("thank", label)]), column
        # The second order of customer 0 waits for the weekly cap.
        assert thank.locator("[data-count=cap_deferred]").get_attribute("data-value") == "1"
        review = tab.locator("[data-journey=review_request] [data-node=delivered]")
        assert review.locator("[data-count=here]").get_attribute("data-value") == str(
            expected["waiting"]["delivered"]
        )
        rows = tab.locator("#recent-messages tbody tr")
        assert rows.count() == min(20, expected["outbox"])
        queued = tab.locator("#recent-messages tr[data-message-state=pending]").first
        assert PENDING_LABEL[locale] in queued.inner_text()
        subject = tab.locator("[data-preview=subject]").inner_text()
        assert subject
        frame = tab.frame_locator("iframe.preview").locator("body")
        assert frame.inner_text()
        customer = tab.locator("[data-preview-customer]").inner_text()
        assert customer
        assert tab.evaluate("document.documentElement.scrollWidth") <= width + 1
        screenshot(tab, f"{viewport}-{locale}-journeys")
        # Another send step previews its own template.
        tab.select_option("#preview-node", "post_purchase_thanks:thank")
        tab.click("#preview button[type=submit]")
        tab.wait_for_url("**preview=post_purchase_thanks*")
        frame = tab.frame_locator("iframe.preview").locator("body")
        # The preview is for the journey's latest customer, greeted by first name.
        first_name = expected["preview_customer"].split(" ")[0]
        greeting = "Olá" if locale == "pt-BR" else "Hello"
        assert f"{greeting}, {first_name}!" in frame.inner_text()
        assert first_name in tab.locator("[data-preview-customer]").inner_text()
        screenshot(tab, f"{viewport}-{locale}-journeys-preview")
        tab.locator("#preview").screenshot(
            path=str(screenshot(tab, f"{viewport}-{locale}-journeys-preview-only"))
        )
    finally:
        context.close()
