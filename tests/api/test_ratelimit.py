"""Per-key token bucket: RateLimit-* headers and 429."""

from __future__ import annotations

from pathlib import Path

from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from recompra.api.ratelimit import TokenBucketLimiter
from recompra.api.settings import ApiSettings
from recompra.config import Settings
from recompra.server import create_app


def test_bucket_refills_at_the_configured_rate(tmp_path: Path) -> None:
    now = [0.0]
    limiter = TokenBucketLimiter(
        capacity=2, per_second=1.0, directory=tmp_path, clock=lambda: now[0]
    )
    assert [limiter.take(1).allowed for _ in range(3)] == [True, True, False]
    assert limiter.take(2).allowed  # buckets are per key
    denied = limiter.take(1)
    assert (denied.remaining, denied.reset_s) == (0, 1)
    now[0] = 1.0
    decision = limiter.take(1)
    assert decision.allowed
    assert decision.headers == {
        "RateLimit-Limit": "2",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "2",
    }


def test_headers_and_429(engine: Engine, keys: Keys, tmp_path: object) -> None:
    app = create_app(
        engine,
        Settings(environment="test"),
        ApiSettings(rate_limit_burst=3, rate_limit_per_second=0.01),
    )
    with TestClient(app) as client:
        remaining = []
        for _ in range(3):
            response = client.get("/v1/rfm", headers=auth(keys.read_a))
            assert response.status_code == 200
            assert response.headers["RateLimit-Limit"] == "3"
            remaining.append(int(response.headers["RateLimit-Remaining"]))
        assert remaining == [2, 1, 0]
        response = client.get("/v1/rfm", headers=auth(keys.read_a))
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "rate_limited"
        assert response.headers["RateLimit-Remaining"] == "0"
        assert int(response.headers["Retry-After"]) == 100
        # Another key has its own bucket.
        assert client.get("/v1/rfm", headers=auth(keys.read_b)).status_code == 200
