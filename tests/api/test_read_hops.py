"""What a read request costs in thread-pool hops and SQL statements (issue 20).

Hops are counted where every one of them goes: ``anyio.to_thread.run_sync``, which
Starlette's ``run_in_threadpool`` (sync endpoints and dependencies) and our own
blocking calls both use. Statements are counted on the engine. Neither count looks at
how the app is built, so a sync dependency or an extra query added later is caught.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import pytest
from apitest import Keys, auth
from fastapi import FastAPI
from fastapi.testclient import TestClient

from recompra.privacy.audit import PERSONAL_READS
from samplestore import SampleStore

#: Per read: the endpoint's own call; a read of personal data also waits for its audit
#: entry's batch, one more hop shared by the requests of the batch.
ENDPOINT_HOPS = 1
AUDIT_BATCH_HOPS = 1
#: ``GET /v1/customers/{id}``: identity, brand link, order stats and latest score in one
#: statement, then the brand's loyalty program and the customer's account, after the BEGIN.
PROFILE_STATEMENTS = 4
#: Answers given before the endpoint runs (no shopper session, a missing query value):
#: the walk cannot fill every operation's inputs.
REFUSED_BEFORE_THE_ENDPOINT = {401, 422}


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function sent to the thread pool while the test runs."""
    sent: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(func, "__name__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return sent


def _read_paths(app: FastAPI, store: SampleStore) -> list[tuple[str, str]]:
    """(route template, concrete path) of every ``GET /v1`` operation of the OpenAPI
    document, path parameters filled with the sample store's first customer (ids) or a
    made-up word."""
    customer = str(store.customers_a[0])
    paths = []
    for template, operations in app.openapi()["paths"].items():
        if "get" not in operations or not template.startswith("/v1/"):
            continue
        concrete = re.sub(
            r"\{(\w+)\}",
            lambda m: customer if m.group(1).endswith("id") else "nothing",
            template,
        )
        paths.append((template, concrete))
    return paths


def test_every_read_endpoint_takes_one_thread_pool_hop_at_most(
    app: FastAPI, client: TestClient, keys: Keys, store: SampleStore, hops: list[str]
) -> None:
    headers = auth(keys.admin)
    query = {"brand_id": store.brand_a}
    # The key and the brand are read once, then remembered for seconds: not what a read
    # costs. Remembered for the whole walk, which a loaded machine can make slow.
    app.state.keys.ttl_s = app.state.brands.ttl_s = 3600.0
    paths = _read_paths(app, store)
    assert len(paths) > 20  # the walk found the API's reads
    over: dict[str, list[str]] = {}
    for template, path in paths:
        client.get(path, headers=headers, params=query)  # anything read once, then kept
        hops.clear()
        response = client.get(path, headers=headers, params=query)
        assert response.status_code < 500, (path, response.text)
        if response.status_code in REFUSED_BEFORE_THE_ENDPOINT:
            continue
        allowed = ENDPOINT_HOPS + (AUDIT_BATCH_HOPS if template in PERSONAL_READS else 0)
        if len(hops) > allowed:
            over[template] = list(hops)
    assert over == {}, "\n".join(f"{t}: {[h[:60] for h in v]}" for t, v in over.items())


def test_a_customer_profile_read_runs_a_fixed_handful_of_statements(
    client: TestClient, keys: Keys, store: SampleStore, statements: list[str]
) -> None:
    path = f"/v1/customers/{store.customers_a[1]}"
    assert client.get(path, headers=auth(keys.read_a)).status_code == 200
    statements.clear()
    assert client.get(path, headers=auth(keys.read_a)).status_code == 200
    reads = [s for s in statements if not s.startswith("INSERT INTO audit_log")]
    assert len(reads) <= PROFILE_STATEMENTS, reads
    # The audit entry of the read is written all the same (in its own batch).
    assert sum(s.startswith("INSERT INTO audit_log") for s in statements) == 1
