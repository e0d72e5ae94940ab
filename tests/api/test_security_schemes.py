"""How a request presents its API key, and the OpenAPI document of the two ways.

The key is read from the headers by the authenticating dependency itself, not by
``HTTPBearer``/``APIKeyHeader`` sub-dependencies (each costs a resolution pass per
request, issue 20); the OpenAPI document must still list both schemes on exactly the
operations that need a key (schemathesis and the docs rely on it).
"""

from __future__ import annotations

import re

import pytest
from apitest import Keys
from fastapi.testclient import TestClient

from recompra.auth.keys import presented_key

#: What an operation that takes an API key documents (FastAPI's names for the schemes).
KEY_SECURITY = [{"HTTPBearer": []}, {"APIKeyHeader": []}]


@pytest.mark.parametrize(
    ("authorization", "x_api_key", "expected"),
    [
        ("Bearer rk_a", None, "rk_a"),
        ("bearer rk_a", None, "rk_a"),  # RFC 7235: the scheme is case-insensitive
        ("BEARER  rk_a ", None, "rk_a"),
        ("Bearer rk_a", "rk_b", "rk_a"),  # the bearer token wins
        ("Basic dXNlcjpwdw==", "rk_b", "rk_b"),  # another scheme: the header key
        ("Bearer", "rk_b", "rk_b"),  # no credentials
        (None, "rk_b", "rk_b"),
        (None, "", None),
        (None, None, None),
        ("rk_a", None, None),  # no scheme
    ],
)
def test_presented_key(authorization: str | None, x_api_key: str | None, expected: str) -> None:
    assert presented_key(authorization, x_api_key) == expected


def test_another_authorization_scheme_falls_back_to_x_api_key(
    client: TestClient, keys: Keys
) -> None:
    headers = {"Authorization": "Basic dXNlcjpwdw==", "X-API-Key": keys.read_a}
    assert client.get("/v1/rfm", headers=headers).status_code == 200
    assert client.get("/v1/rfm", headers={"Authorization": "Basic x"}).status_code == 401


def test_both_key_schemes_are_documented(client: TestClient) -> None:
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The API key in `X-API-Key`",
    }
    assert schemes["HTTPBearer"]["type"] == "http"
    assert schemes["HTTPBearer"]["scheme"] == "bearer"


def test_exactly_the_operations_refusing_a_keyless_request_document_the_key(
    client: TestClient,
) -> None:
    """Each operation is called without a key: a 401 ``missing API key`` answer and the
    documented key requirement must go together."""
    spec = client.get("/openapi.json").json()
    documented, refusing = set(), set()
    for template, operations in spec["paths"].items():
        path = re.sub(r"\{\w+\}", "1", template)
        for method, operation in operations.items():
            name = f"{method.upper()} {template}"
            if operation.get("security") == KEY_SECURITY:
                documented.add(name)
            body = {"json": {}} if method in ("post", "put", "patch") else {}
            response = client.request(method.upper(), path, **body)
            if response.status_code == 401 and "missing API key" in response.text:
                refusing.add(name)
    assert documented == refusing
    assert "GET /v1/customers/{customer_id}" in documented
    assert "POST /v1/loyalty/orders/{order_id}/earn" in documented
    assert "GET /health" not in documented
