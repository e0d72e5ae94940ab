"""Navigation in real Chromium: visible at 1366 px, a menu at 390 px, keyboard, styled 404."""

from __future__ import annotations

from typing import Any

import pytest
from webtest import VIEWPORTS, Server, screenshot, sign_in

from recompra.web.context import NAVIGATION
from recompra.web.i18n import MESSAGES

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("locale", ["pt-BR", "en"])
def test_every_page_is_reached_through_the_visible_desktop_navigation(
    tab_at: Any, server: Server, locale: str
) -> None:
    tab = tab_at("desktop")
    sign_in(tab, server)
    if locale == "en":
        tab.click("#lang-switch")
        tab.wait_for_url("**/dashboard")
    column = 0 if locale == "pt-BR" else 1
    for key, path in NAVIGATION:
        link = tab.locator(f"#site-nav [data-nav={key}]")
        assert link.is_visible(), key
        assert link.inner_text() == MESSAGES[f"nav.{key}"][column]
        link.click()
        tab.wait_for_url(f"**{path}")
        assert tab.locator(f"[data-nav={key}]").get_attribute("aria-current") == "page"
        # The navigation stays inside the viewport's width (no horizontal scrolling).
        assert tab.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS["desktop"][0]
        screenshot(tab, f"desktop-{locale}-{key}")
    assert not tab.locator("#menu-toggle").is_visible()


@pytest.mark.parametrize("locale", ["pt-BR", "en"])
def test_the_phone_menu_opens_reaches_every_page_and_fits(
    tab_at: Any, server: Server, locale: str
) -> None:
    tab = tab_at("phone")
    sign_in(tab, server)
    if locale == "en":
        tab.click("#lang-switch")
        tab.wait_for_url("**/dashboard")
    toggle = tab.locator("#menu-toggle")
    for key, path in NAVIGATION:
        assert toggle.is_visible()
        assert toggle.get_attribute("aria-expanded") == "false"
        assert not tab.locator(f"[data-nav={key}]").is_visible()
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true"
        tab.locator(f"[data-nav={key}]").click()
        tab.wait_for_url(f"**{path}")
        assert tab.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS["phone"][0] + 1
        screenshot(tab, f"phone-{locale}-{key}")
    toggle.click()
    screenshot(tab, f"phone-{locale}-menu-open")


def test_keyboard_alone_skips_to_content_and_follows_the_navigation(
    tab_at: Any, server: Server
) -> None:
    tab = tab_at("desktop")
    sign_in(tab, server)
    tab.keyboard.press("Tab")
    skip = tab.locator(":focus")
    assert skip.inner_text() == "Pular para o conteúdo"
    assert skip.is_visible()  # shown when focused
    tab.keyboard.press("Enter")
    assert tab.evaluate("document.activeElement.id") == "content"
    # From the top again: logo, then the navigation links in order.
    tab.goto(server.url + "/dashboard")
    focused = []
    for _ in range(4):
        tab.keyboard.press("Tab")
        focused.append(tab.evaluate("document.activeElement.dataset.nav || ''"))
    assert focused[2:] == ["overview", "rfm"]
    tab.keyboard.press("Enter")
    tab.wait_for_url("**/dashboard/rfm")
    # The focus ring is visible (an outline, not "none").
    tab.keyboard.press("Tab")
    outline = tab.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_the_phone_menu_closes_with_escape(tab_at: Any, server: Server) -> None:
    tab = tab_at("phone")
    sign_in(tab, server)
    tab.click("#menu-toggle")
    assert tab.locator("[data-nav=rfm]").is_visible()
    tab.keyboard.press("Escape")
    assert not tab.locator("[data-nav=rfm]").is_visible()
    assert tab.evaluate("document.activeElement.id") == "menu-toggle"


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_unknown_dashboard_addresses_get_the_styled_not_found_page(
    tab_at: Any, server: Server, viewport: str
) -> None:
    tab = tab_at(viewport)
    sign_in(tab, server)
    for path in ("/dashboard/no-such-page", "/dashboard/customers/999999999"):
        response = tab.goto(server.url + path)
        assert response.status == 404, path
        assert tab.locator("h1").inner_text() == "Página não encontrada"
        assert tab.locator("[data-notfound] a[href='/dashboard']").is_visible()
        assert tab.locator("link[rel=stylesheet]").count() == 1
    screenshot(tab, f"{viewport}-pt-BR-notfound")
