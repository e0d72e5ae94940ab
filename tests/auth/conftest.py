"""Auth test fixtures: the sample store behind the app, and one signed-in client per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from dbtest import create_test_engine
from recompra.api.settings import ApiSettings
from recompra.auth.users import create_user
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.server import create_app
from samplestore import SampleStore, seed_sample

PASSWORD = "senha-segura-123"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database."""
    yield from create_test_engine("sqlite", tmp_path)


@pytest.fixture
def store(engine: Engine) -> SampleStore:
    """The two-brand sample store."""
    with unit_of_work(engine) as session:
        return seed_sample(session)


@pytest.fixture
def app(engine: Engine, store: SampleStore, tmp_path: Path) -> FastAPI:
    """The app over the sample store (rate limit out of the way)."""
    settings = Settings(home=tmp_path, environment="test")
    api = ApiSettings(rate_limit_burst=10_000, rate_limit_per_second=10_000)
    return create_app(engine, settings, api)


@pytest.fixture
def signed_in(
    app: FastAPI, engine: Engine, store: SampleStore
) -> Iterator[Callable[[str], TestClient]]:
    """``signed_in(role)``: a client signed in as a new user with ``role`` on brand A."""
    clients: list[TestClient] = []

    def sign_in(role: str, *, brand_id: int | None = None) -> TestClient:
        email = f"{role}-{len(clients)}@loja.test"
        with unit_of_work(engine) as session:
            create_user(
                session,
                email=email,
                password=PASSWORD,
                brand_id=store.brand_a if brand_id is None else brand_id,
                role=role,
            )
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        response = client.post("/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 303
        return client

    yield sign_in
    for client in clients:
        client.__exit__(None, None, None)
