"""Idempotency-Key on POST: replay, conflict, what is not stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from typer.testing import CliRunner

from recompra.api.idempotency import IN_PROGRESS_LEASE, RETENTION, purge_job, request_hash
from recompra.automation.worker import run_jobs
from recompra.cli.main import app as cli
from recompra.config import get_settings
from recompra.db import dispose_engines, unit_of_work
from recompra.models import ApiKey, IdempotencyRecord
from recompra.models.base import utcnow


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


def _leave_record(
    engine: Engine, *, idem_key: str, status_code: int, age: timedelta, path: str = "/"
) -> None:
    """A record as a crashed (``status_code=0``) or finished POST to ``path`` left it."""
    scope = {"method": "POST", "path": path, "query_string": b""}
    with unit_of_work(engine) as session:
        session.add(
            IdempotencyRecord(
                api_key_id=_key_ids(engine)[0],
                idempotency_key=idem_key,
                request_hash=request_hash(scope, b""),
                status_code=status_code,
                body={"content": {"left": "behind"}},
                created_at=utcnow() - age,
            )
        )


def test_a_crashed_requests_placeholder_blocks_its_key_only_for_the_lease(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    target = _key_ids(engine)[2]
    headers = {**auth(keys.admin), "Idempotency-Key": "crashed"}
    _leave_record(
        engine,
        idem_key="crashed",
        status_code=0,
        age=timedelta(seconds=5),
        path=f"/v1/keys/{target}/revoke",
    )
    blocked = client.post(f"/v1/keys/{target}/revoke", headers=headers)
    assert blocked.status_code == 409
    assert blocked.json()["error"]["code"] == "idempotency_in_progress"

    with unit_of_work(engine) as session:
        session.execute(update(IdempotencyRecord).values(created_at=utcnow() - IN_PROGRESS_LEASE))
    retried = client.post(f"/v1/keys/{target}/revoke", headers=headers)
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers
    replayed = client.post(f"/v1/keys/{target}/revoke", headers=headers)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert _records(engine) == 1


def test_expired_records_are_purged_by_later_requests(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    admin = _key_ids(engine)[0]
    _leave_record(engine, idem_key="old-done", status_code=200, age=RETENTION)
    _leave_record(engine, idem_key="old-crash", status_code=0, age=IN_PROGRESS_LEASE)
    _leave_record(engine, idem_key="recent-done", status_code=200, age=timedelta(hours=1))
    _leave_record(engine, idem_key="recent-crash", status_code=0, age=timedelta(seconds=5))
    headers = {**auth(keys.admin), "Idempotency-Key": "new"}
    assert client.post(f"/v1/keys/{_key_ids(engine)[2]}/revoke", headers=headers).status_code == 200
    with unit_of_work(engine, write=False) as session:
        left = session.scalars(
            select(IdempotencyRecord.idempotency_key)
            .where(IdempotencyRecord.api_key_id == admin)
            .order_by(IdempotencyRecord.idempotency_key)
        ).all()
    assert left == ["new", "recent-crash", "recent-done"]


def _purged_leaves(engine: Engine) -> list[str]:
    _leave_record(engine, idem_key="old-done", status_code=200, age=RETENTION)
    _leave_record(engine, idem_key="old-crash", status_code=0, age=IN_PROGRESS_LEASE)
    _leave_record(engine, idem_key="recent-done", status_code=200, age=timedelta(hours=1))
    _leave_record(engine, idem_key="recent-crash", status_code=0, age=timedelta(seconds=5))
    return ["recent-crash", "recent-done"]


def _left(engine: Engine) -> list[str]:
    with unit_of_work(engine, write=False) as session:
        return list(
            session.scalars(
                select(IdempotencyRecord.idempotency_key).order_by(
                    IdempotencyRecord.idempotency_key
                )
            )
        )


def test_the_worker_job_purges_expired_records_without_any_request(
    engine: Engine, keys: Keys
) -> None:
    kept = _purged_leaves(engine)
    run_jobs(engine, [purge_job])
    assert _left(engine) == kept


def test_the_cli_purges_expired_records(
    engine: Engine, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = _purged_leaves(engine)
    monkeypatch.setenv("RECOMPRA_DATABASE_URL", engine.url.render_as_string(False))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["keys", "purge-idempotency"])
    finally:
        dispose_engines()
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "2 expired idempotency records removed" in result.output
    assert _left(engine) == kept
