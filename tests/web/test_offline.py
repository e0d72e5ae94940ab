"""Nothing is loaded from another host: /docs works offline, no page links a CDN."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from webtest import Server, screenshot, sign_in

from recompra.web.context import NAVIGATION

pytestmark = pytest.mark.browser

#: Attributes that make a browser fetch (or navigate to) a URL, and CSS url(...).
URL_ATTRIBUTE = re.compile(r"""\b(?:src|href|action|srcset|poster|data)\s*=\s*["']([^"']*)["']""")
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)""")


def external_urls(html: str, base: str) -> list[str]:
    """Absolute URLs in ``html`` whose host is not ``base``'s."""
    own = urlsplit(base).netloc
    found = []
    for url in URL_ATTRIBUTE.findall(html) + CSS_URL.findall(html):
        parts = urlsplit(url.strip())
        host = parts.netloc if parts.scheme in ("http", "https", "") else "scheme:" + parts.scheme
        if url.strip().startswith("//") or (host and host != own):
            found.append(url)
    return found


def test_the_checker_finds_external_references() -> None:
    html = (
        '<script src="https://cdn.jsdelivr.net/x.js"></script><a href="/dashboard">x</a>'
        '<link href="//fonts.example/f.css"><div style="background:url(https://e.x/i.png)">'
    )
    assert external_urls(html, "http://127.0.0.1:8000") == [
        "https://cdn.jsdelivr.net/x.js",
        "//fonts.example/f.css",
        "https://e.x/i.png",
    ]


def test_no_page_references_another_host(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        signed_in = client.post("/login", data={"email": server.email, "password": server.password})
        assert signed_in.status_code == 303
        assert "recompra_session" in client.cookies
        paths = ["/login", "/docs", "/dashboard/no-such-page", "/static/style.css"]
        paths += [path for _, path in NAVIGATION]
        paths += [f"/dashboard/customers/{server.searchable_id}", "/dashboard/customers?q=a"]
        for path in paths:
            response = client.get(path)
            assert response.status_code in (200, 404), path
            assert external_urls(response.text, server.url) == [], path
        assert client.get("/redoc").status_code == 404  # ReDoc (CDN-only) is not served


def test_api_docs_render_with_the_network_cut_off(page: Any, server: Server) -> None:
    requested: list[str] = []

    def only_local(route: Any) -> None:
        url = route.request.url
        requested.append(url)
        if urlsplit(url).netloc == urlsplit(server.url).netloc:
            route.continue_()
        else:
            route.abort()

    page.route("**/*", only_local)
    sign_in(page, server)  # the dashboard, too, works with no internet
    page.goto(server.url + "/docs")
    title = page.locator(".swagger-ui .info .title")
    title.wait_for(timeout=60_000)  # 1.5 MB of script to parse on a busy machine
    assert title.inner_text().startswith("Recompra")
    # The operations list is built from our own /openapi.json.
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() > 10
    outside = [u for u in requested if urlsplit(u).netloc != urlsplit(server.url).netloc]
    assert outside == []
    screenshot(page, "desktop-docs")
