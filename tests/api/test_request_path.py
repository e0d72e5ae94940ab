"""What a request costs besides its endpoint: key lookups and audit writes (issue 20)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
from apitest import Keys, auth
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from recompra.api.idempotency import IdempotencyMiddleware
from recompra.auth.keys import revoke_api_key
from recompra.db import unit_of_work
from recompra.models import ApiKey, AuditEntry
from recompra.server import EdgeMiddleware
from samplestore import SampleStore


def _key_reads(statements: list[str]) -> int:
    return sum(1 for s in statements if "FROM api_keys" in s)


def test_a_key_is_read_once_then_remembered(
    client: TestClient, keys: Keys, store: SampleStore, statements: list[str]
) -> None:
    path = f"/v1/customers/{store.customers_a[1]}"
    assert client.get(path, headers=auth(keys.read_a)).status_code == 200
    assert _key_reads(statements) == 1
    for _ in range(3):
        assert client.get(path, headers=auth(keys.read_a)).status_code == 200
    assert _key_reads(statements) == 1


def test_a_remembered_key_revoked_in_the_process_is_refused_at_once(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine
) -> None:
    path = f"/v1/customers/{store.customers_a[1]}"
    assert client.get(path, headers=auth(keys.read_a)).status_code == 200
    prefix = keys.read_a.split("_")[1]
    with unit_of_work(engine) as session:
        key_id = session.scalars(select(ApiKey.id).where(ApiKey.prefix == prefix)).one()
        revoke_api_key(session, key_id=key_id)
    assert client.get(path, headers=auth(keys.read_a)).status_code == 401


def test_concurrent_personal_reads_are_each_audited_in_fewer_transactions(
    app: FastAPI, keys: Keys, store: SampleStore, engine: Engine, statements: list[str]
) -> None:
    customers = store.customers_a[:16]

    async def read_all() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            responses = await asyncio.gather(
                *(client.get(f"/v1/customers/{c}", headers=auth(keys.read_a)) for c in customers)
            )
        return [r.status_code for r in responses]

    # In a thread of its own: a browser test earlier in the same worker process can leave
    # an event loop running in this thread (Playwright's sync API), and asyncio.run
    # refuses to start inside one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        codes = pool.submit(asyncio.run, read_all()).result()
    assert codes == [200] * len(customers)
    with unit_of_work(engine, write=False) as session:
        targets = session.scalars(
            select(AuditEntry.target).where(AuditEntry.action == "customer.read")
        ).all()
    # Every read has its entry (who read what) ...
    assert sorted(targets) == sorted(f"customer_id:{c}" for c in customers)
    # ... written in batches: fewer inserts than reads.
    inserts = [s for s in statements if s.startswith("INSERT INTO audit_log")]
    assert 1 <= len(inserts) < len(customers)


def test_one_edge_layer_gives_every_response_its_headers(
    client: TestClient, keys: Keys, store: SampleStore
) -> None:
    """The body limit, the security and rate-limit headers and the request metrics are
    one ASGI layer around the idempotency one (they were four layers, each a call and a
    send wrapper per request; issue 20)."""
    app = client.app
    assert isinstance(app, FastAPI)
    assert [m.cls for m in app.user_middleware] == [EdgeMiddleware, IdempotencyMiddleware]
    answer = client.get(f"/v1/customers/{store.customers_a[1]}", headers=auth(keys.read_a))
    assert answer.status_code == 200
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    assert int(answer.headers["ratelimit-remaining"]) >= 0
    # Each header once: the layer adds what the response does not set itself.
    assert [name for name, _ in answer.headers.raw].count(b"x-frame-options") == 1
