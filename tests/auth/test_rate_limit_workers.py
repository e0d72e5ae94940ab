"""The rate limit is one budget per key however many uvicorn workers serve it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from liveserver import live_server
from recompra.auth.keys import create_api_key
from recompra.db import make_engine, unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.migrate import upgrade

BURST = 20


@pytest.mark.slow
def test_two_workers_share_one_bucket(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/recompra.db"
    engine = make_engine(url)
    upgrade(engine)
    with unit_of_work(engine) as session:
        ensure_brand(session, "loja")
        _, key = create_api_key(session, scopes=["read"])
    engine.dispose()
    limits = {
        "RECOMPRA_API_RATE_LIMIT_BURST": str(BURST),
        # One token a day: nothing refills during the test.
        "RECOMPRA_API_RATE_LIMIT_PER_SECOND": str(1 / 86400),
    }
    statuses = []
    with live_server(url, tmp_path, workers=2, env=limits) as base:
        # A new connection per request, so the kernel spreads them over both workers.
        for _ in range(3 * BURST):
            with httpx.Client(base_url=base, timeout=30) as client:
                response = client.get("/v1/customers", headers={"Authorization": f"Bearer {key}"})
                statuses.append(response.status_code)
    assert statuses.count(200) == BURST
    assert statuses.count(429) == 2 * BURST
