from typing import Any

import pytest
from webtest import Server, sign_in

pytestmark = pytest.mark.browser


def test_debug(tab_at: Any, server: Server) -> None:
    tab = tab_at("desktop")
    sign_in(tab, server)
    tab.click("#nav-toggle-customers")
    print("expanded", tab.locator("#nav-toggle-customers").get_attribute("aria-expanded"))
    print("visible", tab.locator("[data-nav=rfm]").is_visible())
    tab.screenshot(path="/tmp/h3-dbg1.png")
    print("expanded2", tab.locator("#nav-toggle-customers").get_attribute("aria-expanded"))
    tab.screenshot(path="/tmp/h3-dbg2.png", full_page=True)
    print("expanded3", tab.locator("#nav-toggle-customers").get_attribute("aria-expanded"))
    tab.goto(server.url + "/dashboard?range=90d")
    tab.screenshot(path="/tmp/h3-dbg3.png", full_page=True)
    tab.goto(server.url + "/dashboard/clusters")
    tab.screenshot(path="/tmp/h3-dbg4.png", full_page=True)
