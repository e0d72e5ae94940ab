"""Navigation in real Chromium: visible at 1366 px, a menu at 390 px, keyboard, styled 404."""

from __future__ import annotations

from typing import Any

import pytest
from webtest import SCREENSHOTS, VIEWPORTS, Server, screenshot, sign_in

from recompra.web.context import NAVIGATION, NAVIGATION_GROUPS
from recompra.web.i18n import MESSAGES

pytestmark = pytest.mark.browser


def _assert_header_on_one_row(tab: Any) -> None:
    """The logo, every top-level navigation item and the tools share one row."""
    boxes = tab.evaluate(
        """() => [document.querySelector('.logo'), document.querySelector('.tools'),
                  ...document.querySelectorAll('.nav-groups > li')]
                 .map((e) => { const r = e.getBoundingClientRect();
                               return [r.top + r.height / 2, r.height]; })"""
    )
    centres = [centre for centre, _ in boxes]
    tallest = max(height for _, height in boxes)
    assert max(centres) - min(centres) < tallest / 2, boxes


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
    for group, entries in NAVIGATION_GROUPS.items():
        for key, path in entries:
            _assert_header_on_one_row(tab)
            link = tab.locator(f"#site-nav [data-nav={key}]")
            if len(entries) > 1:
                # A group's pages sit in a closed drop-down until its button opens it.
                toggle = tab.locator(f"#nav-toggle-{group}")
                assert toggle.inner_text().startswith(MESSAGES[f"navgroup.{group}"][column])
                assert toggle.get_attribute("aria-expanded") == "false"
                assert not link.is_visible(), key
                toggle.click()
                assert toggle.get_attribute("aria-expanded") == "true"
            assert link.is_visible(), key
            assert link.inner_text() == MESSAGES[f"nav.{key}"][column]
            link.click()
            tab.wait_for_url(f"**{path}")
            assert tab.locator(f"[data-nav={key}]").get_attribute("aria-current") == "page"
            # The navigation stays inside the viewport's width (no horizontal scrolling).
            assert tab.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS["desktop"][0]
            screenshot(tab, f"desktop-{locale}-{key}")
    assert not tab.locator("#menu-toggle").is_visible()
    tab.click("#nav-toggle-customers")
    # The viewport only: a full-page capture resizes the page, which closes the drop-down.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"desktop-{locale}-menu-customers-open.png"))


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
    # From the top again: logo, the overview link, then the first group's button.
    tab.goto(server.url + "/dashboard")
    focused = []
    for _ in range(4):
        tab.keyboard.press("Tab")
        focused.append(
            tab.evaluate("document.activeElement.dataset.nav || document.activeElement.id")
        )
    assert focused[2:] == ["overview", "nav-toggle-customers"]
    toggle = tab.locator("#nav-toggle-customers")
    tab.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "true"
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.dataset.nav") == "rfm"
    # Escape closes the drop-down and gives the focus back to its button.
    tab.keyboard.press("Escape")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not tab.locator("[data-nav=rfm]").is_visible()
    assert tab.evaluate("document.activeElement.id") == "nav-toggle-customers"
    tab.keyboard.press("Enter")
    tab.keyboard.press("Tab")
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
