"""Sessions and secrets (issue 20, 1b): key length, server-side logout, sign-in throttle,
malformed cookies and the security headers of dashboard pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from dbtest import create_test_engine
from recompra.api.settings import ApiSettings
from recompra.auth.users import create_user
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.server import create_app
from recompra.web import session as cookies

EMAIL = "gestora@example.com"
PASSWORD = "senha-segura-123"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    for engine in create_test_engine("sqlite", tmp_path):
        with unit_of_work(engine) as session:
            create_user(session, email=EMAIL, password=PASSWORD)
        settings = Settings(home=tmp_path, environment="test")
        api = ApiSettings(rate_limit_burst=10_000, rate_limit_per_second=10_000)
        with TestClient(create_app(engine, settings, api), follow_redirects=False) as test_client:
            yield test_client


def _sign_in(client: TestClient, password: str = PASSWORD) -> int:
    response = client.post("/login", data={"email": EMAIL, "password": password})
    return response.status_code


@pytest.mark.parametrize("secret", ["", "x", "k" * 31])
def test_production_refuses_a_short_secret_key(secret: str) -> None:
    with pytest.raises(ValidationError, match="RECOMPRA_SECRET_KEY"):
        Settings(environment="production", secret_key=secret)
    assert Settings(environment="production", secret_key="k" * 32).secret_key == "k" * 32


def test_a_cookie_signed_with_the_empty_key_opens_nothing(client: TestClient) -> None:
    forged = cookies.dumps("", {"uid": 1})
    client.cookies.set(cookies.COOKIE, forged)
    assert client.get("/dashboard").status_code == 303


def test_logout_revokes_the_session_server_side(client: TestClient) -> None:
    assert _sign_in(client) == 303
    stolen = client.cookies.get(cookies.COOKIE)
    assert stolen is not None
    assert client.get("/dashboard").status_code == 200
    assert client.post("/logout").status_code == 303
    client.cookies.set(cookies.COOKIE, stolen)
    response = client.get("/dashboard")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_sign_in_is_throttled_per_account_and_address(client: TestClient) -> None:
    for _ in range(5):
        assert _sign_in(client, "errada-123") == 401
    assert _sign_in(client) == 429
    assert client.get("/dashboard").status_code == 303


def test_a_non_ascii_cookie_is_a_redirect_not_a_500(client: TestClient) -> None:
    response = client.get(
        "/dashboard", headers={"Cookie": "recompra_session=\xe9t\xe9.\xe0b".encode("latin-1")}
    )
    assert response.status_code == 303


def test_dashboard_pages_carry_security_headers(client: TestClient) -> None:
    _sign_in(client)
    for path in ("/login", "/dashboard", "/docs"):
        response = client.get(path)
        assert response.status_code == 200, path
        headers = response.headers
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
