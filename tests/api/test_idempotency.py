"""Idempotency-Key on POST: replay, conflict, what is not stored."""

from __future__ import annotations

from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from recompra.db import unit_of_work
from recompra.models import ApiKey, IdempotencyRecord


def _key_ids(engine: Engine) -> list[int]:
    with unit_of_work(engine, write=False) as session:
        return list(session.execute(select(ApiKey.id).order_by(ApiKey.id)).scalars())


def _records(engine: Engine) -> int:
    with unit_of_work(engine, write=False) as session:
        return session.execute(select(func.count()).select_from(IdempotencyRecord)).scalar_one()


def test_replay_returns_the_first_response(client: TestClient, keys: Keys, engine: Engine) -> None:
    target = _key_ids(engine)[2]
    headers = {**auth(keys.admin), "Idempotency-Key": "revoke-1"}
    first = client.post(f"/v1/keys/{target}/revoke", headers=headers)
    assert first.status_code == 200
    assert "idempotent-replayed" not in first.headers
    again = client.post(f"/v1/keys/{target}/revoke", headers=headers)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert _records(engine) == 1


def test_same_key_other_request_is_409(client: TestClient, keys: Keys, engine: Engine) -> None:
    ids = _key_ids(engine)
    headers = {**auth(keys.admin), "Idempotency-Key": "k"}
    assert client.post(f"/v1/keys/{ids[2]}/revoke", headers=headers).status_code == 200
    response = client.post(f"/v1/keys/{ids[3]}/revoke", headers=headers)
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "idempotency_conflict",
        "message": "this Idempotency-Key was used with a different request",
        "field": "Idempotency-Key",
    }
    # The rejected request changed nothing.
    with unit_of_work(engine, write=False) as session:
        assert session.get(ApiKey, ids[3]).revoked_at is None  # type: ignore[union-attr]


def test_keys_are_scoped_per_api_key(client: TestClient, keys: Keys, engine: Engine) -> None:
    from recompra.auth.keys import create_api_key

    with unit_of_work(engine) as session:
        _, other_admin = create_api_key(session, scopes=["admin"])
    ids = _key_ids(engine)
    first = client.post(
        f"/v1/keys/{ids[2]}/revoke", headers={**auth(keys.admin), "Idempotency-Key": "same"}
    )
    second = client.post(
        f"/v1/keys/{ids[3]}/revoke", headers={**auth(other_admin), "Idempotency-Key": "same"}
    )
    assert (first.status_code, second.status_code) == (200, 200)


def test_errors_are_replayed_but_auth_failures_are_not_stored(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    headers = {**auth(keys.admin), "Idempotency-Key": "missing"}
    first = client.post("/v1/keys/999999/revoke", headers=headers)
    assert first.status_code == 404
    again = client.post("/v1/keys/999999/revoke", headers=headers)
    assert again.status_code == 404
    assert again.headers["idempotent-replayed"] == "true"
    # A read-only key gets 403, which is not stored: the key can be used once authorised.
    forbidden = client.post(
        "/v1/keys/1/revoke", headers={**auth(keys.read_a), "Idempotency-Key": "x"}
    )
    assert forbidden.status_code == 403
    assert _records(engine) == 1


def test_overlong_idempotency_key_is_400(client: TestClient, keys: Keys) -> None:
    response = client.post(
        "/v1/keys/1/revoke", headers={**auth(keys.admin), "Idempotency-Key": "x" * 201}
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "Idempotency-Key"
