"""API test fixtures: a migrated temp SQLite database with the sample store, keys, a client."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apitest import Keys
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select

from recompra.api.settings import ApiSettings
from recompra.auth.keys import create_api_key, revoke_api_key
from recompra.config import Settings
from recompra.db import make_engine, unit_of_work
from recompra.migrate import upgrade
from recompra.models import Brand
from recompra.server import create_app
from samplestore import SampleStore, analyse_sample, seed_sample


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated, seeded database file; each test gets a copy (migrations run once)."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with unit_of_work(engine) as session:
        seed_sample(session)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def analysed_template(migrated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with both sample brands' ``recompra analyze`` outputs (computed once)."""
    home = tmp_path_factory.mktemp("analysed")
    engine = make_engine(f"sqlite:///{migrated_template}")
    with unit_of_work(engine, write=False) as session:
        brands = list(session.execute(select(Brand.id).order_by(Brand.id)).scalars())
    for brand_id in brands:
        analyse_sample(engine, home, brand_id=brand_id)
    engine.dispose()
    return home


@pytest.fixture
def analysed(app: FastAPI, analysed_template: Path) -> Path:
    """The app's home with the sample brands' analytics outputs (as after ``recompra analyze``)."""
    home: Path = app.state.settings.home
    shutil.copytree(analysed_template / "analytics", home / "analytics")
    return home


@pytest.fixture
def engine(migrated_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A private copy of the seeded database."""
    path = tmp_path / "recompra.db"
    path.write_bytes(migrated_template.read_bytes())
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine runs while the test does."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def store(engine: Engine) -> SampleStore:
    """The ids of the sample store (re-derived: seeding is deterministic)."""
    from recompra.models import BrandCustomer, Order, Product

    with unit_of_work(engine, write=False) as session:
        a, b = (session.execute(select(Brand.id).order_by(Brand.id)).scalars().all())[:2]

        def members(brand: int) -> list[int]:
            return list(
                session.execute(
                    select(BrandCustomer.customer_id)
                    .where(BrandCustomer.brand_id == brand)
                    .order_by(BrandCustomer.customer_id)
                ).scalars()
            )

        in_a, in_b = members(a), members(b)
        shared = sorted(set(in_a) & set(in_b))[0]
        products = {
            brand: list(
                session.execute(
                    select(Product.id).where(Product.brand_id == brand).order_by(Product.id)
                ).scalars()
            )
            for brand in (a, b)
        }
        orders_b = list(session.execute(select(Order.id).where(Order.brand_id == b)).scalars())
    return SampleStore(
        brand_a=a,
        brand_b=b,
        customers_a=in_a,
        customers_b=[c for c in in_b if c != shared],
        shared_customer=shared,
        products_a=products[a],
        products_b=products[b],
        orders_b=orders_b,
    )


@pytest.fixture
def keys(engine: Engine, store: SampleStore) -> Keys:
    """One key per role."""
    with unit_of_work(engine) as session:
        _, admin = create_api_key(session, scopes=["admin"])
        _, read_a = create_api_key(session, scopes=["read"], brand_id=store.brand_a)
        _, read_b = create_api_key(session, scopes=["read"], brand_id=store.brand_b)
        _, ingest_a = create_api_key(session, scopes=["ingest"], brand_id=store.brand_a)
        _, loyalty_a = create_api_key(session, scopes=["loyalty", "read"], brand_id=store.brand_a)
        row, revoked = create_api_key(session, scopes=["admin"])
        revoke_api_key(session, key_id=row.id)
    return Keys(admin, read_a, read_b, ingest_a, loyalty_a, revoked)


@pytest.fixture
def api_settings() -> ApiSettings:
    """Generous limits so that only the rate-limit tests meet them."""
    return ApiSettings(rate_limit_burst=10_000, rate_limit_per_second=10_000)


@pytest.fixture
def app(engine: Engine, api_settings: ApiSettings, tmp_path: Path) -> FastAPI:
    """The application over the test database."""
    settings = Settings(home=tmp_path, environment="test")
    return create_app(engine, settings, api_settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An in-process HTTP client."""
    with TestClient(app) as test_client:
        yield test_client
