"""Shopper page fixtures: one migrated SQLite database per module, the app over it, and a
fresh brand with a program per test (``shopworld``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from dbtest import create_test_engine
from recompra.api.settings import ApiSettings
from recompra.config import Settings
from recompra.server import create_app
from shopworld import Shop, new_shop


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated SQLite database for the module."""
    yield from create_test_engine("sqlite", tmp_path_factory.mktemp("shopper"))


@pytest.fixture(scope="module")
def app(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The application over the module's database."""
    settings = Settings(home=tmp_path_factory.mktemp("home"), environment="test")
    return create_app(
        engine, settings, ApiSettings(rate_limit_burst=10_000, rate_limit_per_second=10_000)
    )


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An in-process HTTP client (its own cookie jar)."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def shop(engine: Engine) -> Shop:
    """A fresh brand with a program (tests count only their own rows)."""
    return new_shop(engine)
