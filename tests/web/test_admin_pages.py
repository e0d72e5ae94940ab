"""The administration pages in real Chromium at desktop and phone widths, pt-BR and
English: users, API keys (a key created through the form is shown once) and privacy."""

from __future__ import annotations

from typing import Any

import pytest
from webtest import VIEWPORTS, Server, screenshot, sign_in

from recompra.auth.keys import verify_api_key
from recompra.db import make_engine, unit_of_work

pytestmark = pytest.mark.browser

HEADINGS = {
    "pt-BR": {
        "/dashboard/admin": "Usuários do painel",
        "/dashboard/admin/keys": "Chaves de API",
        "/dashboard/admin/privacy": "Direitos do titular (LGPD)",
    },
    "en": {
        "/dashboard/admin": "Dashboard users",
        "/dashboard/admin/keys": "API keys",
        "/dashboard/admin/privacy": "Data-subject rights (LGPD)",
    },
}
#: English words of these pages that must not show on a pt-BR page.
ENGLISH = ("Users", "Revoke", "Invite", "Create a key", "Erase", "Download", "Role")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("locale", list(HEADINGS))
def test_admin_pages(tab_at: Any, server: Server, viewport: str, locale: str) -> None:
    width = VIEWPORTS[viewport][0]
    tab = tab_at(viewport)
    sign_in(tab, server)
    tab.goto(f"{server.url}/dashboard/lang?to={locale}&next=/dashboard/admin")
    tab.wait_for_url("**/dashboard/admin")
    for path, heading in HEADINGS[locale].items():
        tab.goto(server.url + path)
        assert tab.locator("h1").inner_text() == heading
        text = tab.locator("main").inner_text()
        if locale == "pt-BR":
            assert [w for w in ENGLISH if w in text] == []
        assert tab.evaluate("document.documentElement.scrollWidth") <= width + 1
        screenshot(tab, f"{viewport}-{locale}-admin-{path.rsplit('/', 1)[-1]}")
    # Create a key through the form: the page shows it once, it works, the list hides it.
    tab.goto(server.url + "/dashboard/admin/keys")
    tab.fill("form[data-create-key] input[name=name]", f"teste {viewport} {locale}")
    tab.check("form[data-create-key] input[value=read]")
    tab.click("form[data-create-key] button[type=submit]")
    secret = tab.locator("[data-secret]").inner_text()
    assert tab.evaluate("document.documentElement.scrollWidth") <= width + 1
    screenshot(tab, f"{viewport}-{locale}-admin-key-created")
    engine = make_engine(server.database_url)
    try:
        with unit_of_work(engine, write=False) as session:
            principal = verify_api_key(session, secret)
    finally:
        engine.dispose()
    assert principal is not None
    assert principal.scopes == {"read"}
    tab.goto(server.url + "/dashboard/admin/keys")
    assert secret not in tab.content()
    # The navigation reaches the area.
    if viewport == "phone":
        tab.click("#menu-toggle")
    tab.click("nav#site-nav a[data-nav=admin]")
    tab.wait_for_url("**/dashboard/admin")
