"""The "What each action earned" page in Chromium: both languages, desktop and phone,
the same figures as the API, and no page wider than the phone."""

from __future__ import annotations

from typing import Any

import pytest
from webtest import VIEWPORTS, Server, screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
@pytest.mark.parametrize("lang", ["pt-BR", "en"])
def test_the_page_shows_the_journey_uplift_and_the_program_roi(
    browser: Any, server: Server, viewport: str, lang: str
) -> None:
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=viewport == "phone"
    )
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    try:
        sign_in(tab, server, "/dashboard/measurement")
        if lang == "en":
            tab.goto(server.url + "/dashboard/lang?to=en&next=/dashboard/measurement")
            tab.wait_for_url("**/dashboard/measurement")
        assert tab.locator("html").get_attribute("lang") == lang
        heading = "O que cada ação rendeu" if lang == "pt-BR" else "What each action earned"
        assert heading in tab.locator("h1").inner_text()
        api = server.api("/v1/measurement/uplift?journey=post_purchase_thanks")["journeys"][0]
        comparison = api["comparison"]
        assert comparison is not None
        row = tab.locator("[data-journey=post_purchase_thanks]")
        shown = row.locator("[data-incremental] [data-value]").get_attribute("data-value")
        assert shown == str(comparison["incremental_revenue"]["value_minor"])
        treated, control = comparison["treated"]["eligible"], comparison["control"]["eligible"]
        assert f"{treated} / {control}" in row.inner_text()
        note = "observacional" if lang == "pt-BR" else "Observational"
        assert note in tab.locator("#loyalty-roi").inner_text()
        screenshot(tab, f"measurement-{lang}-{viewport}")
        assert tab.evaluate("document.documentElement.scrollWidth") <= width + 1
    finally:
        context.close()
