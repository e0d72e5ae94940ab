"""Voice-of-the-customer fixtures: the real Olist data imported once into SQLite, and a
migrated engine per backend."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from voctest import ImportedOlist

from dbtest import BACKENDS, create_test_engine, olist_database


@pytest.fixture(scope="session")
def olist_hub(olist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImportedOlist]:
    """Olist imported with ``import_olist`` (what ``recompra import olist`` runs)."""
    url, engine, brand_id = olist_database(olist_dir, tmp_path_factory.mktemp("voc-olist"))
    yield ImportedOlist(url=url, engine=engine, brand_id=brand_id, slug="olist")
    engine.dispose()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network socket fails the test (files and SQLite still work)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network use attempted: socket{args}")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database on SQLite and on PostgreSQL."""
    yield from create_test_engine(request.param, tmp_path)
