"""Authentication, scopes, revoked keys and the error body."""

from __future__ import annotations

from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from recompra.db import unit_of_work
from recompra.models import ApiKey
from samplestore import SampleStore


def test_health_needs_no_key(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_missing_key_is_401_with_error_body(client: TestClient) -> None:
    response = client.get("/v1/rfm")
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "unauthorized",
            "message": "missing API key: send `Authorization: Bearer <key>`",
            "field": None,
        }
    }


def test_unknown_and_malformed_keys_are_401(client: TestClient, keys: Keys) -> None:
    tampered = keys.admin[:-4] + "AAAA"
    for key in (tampered, "rk_nothere_xyz", "not-a-key", "rk_"):
        response = client.get("/v1/rfm", headers=auth(key))
        assert response.status_code == 401, key
        assert response.json()["error"]["code"] == "unauthorized"


def test_revoked_key_is_401(client: TestClient, keys: Keys) -> None:
    response = client.get("/v1/rfm", headers=auth(keys.revoked))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "unknown or revoked API key"


def test_x_api_key_header_is_accepted(client: TestClient, keys: Keys) -> None:
    response = client.get("/v1/rfm", headers={"X-API-Key": keys.read_a})
    assert response.status_code == 200


def test_scope_is_enforced(client: TestClient, keys: Keys) -> None:
    response = client.get("/v1/rfm", headers=auth(keys.ingest_a))
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "forbidden",
        "message": "this key lacks the `read` scope",
        "field": None,
    }
    assert client.get("/v1/keys", headers=auth(keys.read_a)).status_code == 403
    assert client.get("/v1/keys", headers=auth(keys.admin)).status_code == 200


def test_admin_implies_every_scope(client: TestClient, keys: Keys, store: SampleStore) -> None:
    response = client.get(f"/v1/rfm?brand_id={store.brand_b}", headers=auth(keys.admin))
    assert response.status_code == 200


def test_unrestricted_key_must_name_a_brand_when_several_exist(
    client: TestClient, keys: Keys
) -> None:
    response = client.get("/v1/rfm", headers=auth(keys.admin))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "brand_id"


def test_key_is_stored_hashed_and_use_recorded(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    client.get("/v1/rfm", headers=auth(keys.read_a))
    prefix = keys.read_a.split("_")[1]
    with unit_of_work(engine, write=False) as session:
        row = session.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar_one()
    assert keys.read_a not in (row.key_hash, row.name, row.prefix)
    assert len(row.key_hash) == 64
    assert row.last_used_at is not None


def test_revoke_endpoint_revokes(client: TestClient, keys: Keys, engine: Engine) -> None:
    prefix = keys.read_b.split("_")[1]
    with unit_of_work(engine, write=False) as session:
        key_id = session.execute(select(ApiKey.id).where(ApiKey.prefix == prefix)).scalar_one()
    response = client.post(f"/v1/keys/{key_id}/revoke", headers=auth(keys.admin))
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert client.get("/v1/rfm", headers=auth(keys.read_b)).status_code == 401


def test_malformed_request_is_422_with_field(client: TestClient, keys: Keys) -> None:
    response = client.get("/v1/customers/abc", headers=auth(keys.read_a))
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert body["field"] == "customer_id"


def test_unknown_route_and_method_use_the_error_body(client: TestClient, keys: Keys) -> None:
    response = client.get("/v1/nothing", headers=auth(keys.read_a))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = client.delete("/v1/rfm", headers=auth(keys.read_a))
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_operation_ids_are_stable(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    ids = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {
        "health",
        "customers_search",
        "customers_get",
        "customers_segment_history",
        "customers_timeline",
        "segments_list",
        "segments_customers",
        "rfm_grid",
        "scores_clv",
        "scores_clv_distribution",
        "scores_churn",
        "kpis_by_period",
        "kpis_summary",
        "cohorts_retention",
        "keys_list",
        "keys_revoke",
    } <= ids
    error_schema = {"$ref": "#/components/schemas/ErrorResponse"}
    get_customer = spec["paths"]["/v1/customers/{customer_id}"]["get"]["responses"]
    for status in ("401", "403", "404", "422", "429"):
        assert get_customer[status]["content"]["application/json"]["schema"] == error_schema
