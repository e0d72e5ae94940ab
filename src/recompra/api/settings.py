"""API-only settings (env prefix ``RECOMPRA_API_``): rate limits and batch sizes."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Tunables of the HTTP API, read from ``RECOMPRA_API_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="RECOMPRA_API_", extra="ignore")

    #: Requests a key may make in a burst (the token bucket's capacity).
    rate_limit_burst: int = 300
    #: Sustained requests per second per key (the bucket's refill rate), per process.
    rate_limit_per_second: float = 50.0
    #: Largest batch accepted by the batch ingest endpoints.
    max_batch: int = 1000
    #: Largest request body in bytes; a bigger one is 413 before it is read, so one
    #: request cannot make a worker hold an unbounded body in memory.
    max_body_bytes: int = 4 * 1024 * 1024
    #: Where ``recompra recommend refresh`` output is read from (by the API and the
    #: dashboard): ``<dir>/<brand slug>/``, ``<dir>/<brand_id>/``, or ``<dir>`` itself on a
    #: single-brand install; default ``<RECOMPRA_HOME>/recommendations``.
    recommendations_dir: Path | None = None
