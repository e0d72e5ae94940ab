"""Export, erasure, retention and the audit log through the API and the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from privacytest import EMAIL, Identified, identify
from sqlalchemy import select
from typer.testing import CliRunner

from dbtest import create_test_engine
from recompra.api.settings import ApiSettings
from recompra.auth.keys import create_api_key
from recompra.cli.main import app as cli
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.models import AuditEntry, Customer, PrivacyRequest
from recompra.privacy.service import apply_retention
from recompra.server import create_app


@pytest.fixture
def store(tmp_path: Path) -> Identified:
    home = tmp_path / "home"
    home.mkdir()
    engine = next(create_test_engine("sqlite", home))
    return identify(engine, home)


def _client(store: Identified) -> TestClient:
    settings = Settings(home=store.home, environment="test")
    api = ApiSettings(rate_limit_burst=10_000, rate_limit_per_second=10_000)
    return TestClient(create_app(store.engine, settings, api))


def test_api_exports_erases_and_audits(store: Identified) -> None:
    with unit_of_work(store.engine) as session:
        _, admin = create_api_key(session, scopes=["admin"])
        _, admin_b = create_api_key(session, scopes=["admin"], brand_id=store.brand_b)
        _, read_a = create_api_key(session, scopes=["read"], brand_id=store.brand_a)
    customer = store.customer_id
    with _client(store) as client:
        bearer = {"Authorization": f"Bearer {admin}"}
        exported = client.get(f"/v1/privacy/customers/{customer}/export", headers=bearer)
        assert exported.status_code == 200
        assert exported.json()["tables"]["customers"][0]["email"] == EMAIL
        # Another brand's admin key neither reads nor erases brand A's customer.
        other = {"Authorization": f"Bearer {admin_b}"}
        assert (
            client.get(f"/v1/privacy/customers/{customer}/export", headers=other).status_code == 404
        )
        assert (
            client.post(f"/v1/privacy/customers/{customer}/erase", headers=other).status_code == 404
        )
        read = client.get(
            f"/v1/customers/{customer}", headers={"Authorization": f"Bearer {read_a}"}
        )
        assert read.status_code == 200
        erased = client.post(f"/v1/privacy/customers/{customer}/erase", headers=bearer)
        assert erased.status_code == 200
        audit = client.get("/v1/privacy/audit?format=csv", headers=bearer)
    rows = list(csv.DictReader(io.StringIO(audit.content.decode("utf-8-sig"))))
    actions = [(r["action"], r["target"]) for r in reversed(rows)]
    assert actions == [
        ("privacy.export", f"customer:{customer}"),
        ("customer.read", f"customer_id:{customer}"),
        ("privacy.erase", f"customer:{customer}"),
    ]
    with unit_of_work(store.engine, write=False) as session:
        row = session.get(Customer, customer)
        assert row is not None
        assert row.email is None


def test_cli_export_and_erase(
    store: Identified, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECOMPRA_HOME", str(store.home))
    monkeypatch.setenv("RECOMPRA_DATABASE_URL", store.engine.url.render_as_string(False))
    from recompra.config import get_settings
    from recompra.db import dispose_engines

    get_settings.cache_clear()
    dispose_engines()
    try:
        runner = CliRunner()
        out = tmp_path / "export"
        result = runner.invoke(
            cli, ["privacy", "export", str(store.customer_id), "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        document = json.loads((out / "export.json").read_text())
        assert document["tables"]["customers"][0]["email"] == EMAIL
        assert (out / "orders.csv").exists()
        result = runner.invoke(cli, ["privacy", "erase", str(store.customer_id), "--yes"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(cli, ["privacy", "audit", "--out", str(tmp_path / "audit.csv")])
        assert result.exit_code == 0, result.output
    finally:
        get_settings.cache_clear()
        dispose_engines()
    with unit_of_work(store.engine, write=False) as session:
        kinds = (
            session.execute(
                select(PrivacyRequest.kind).where(PrivacyRequest.customer_id == store.customer_id)
            )
            .scalars()
            .all()
        )
        assert sorted(kinds) == ["erase", "export"]
        assert session.execute(select(AuditEntry.action)).scalars().all().count("audit.export") == 1


def test_retention_anonymises_only_the_inactive(store: Identified) -> None:
    with unit_of_work(store.engine, write=False) as session:
        customers = session.execute(select(Customer.id)).scalars().all()
    later = datetime.now(UTC) + timedelta(days=400)
    # From then, the sample's orders (2023-2024) are more than 401 days old; the
    # identified customer's event (written now by the fixture) is 400 days old.
    done = apply_retention(store.engine, days=401, actor="cli:test", home=store.home, now=later)
    with unit_of_work(store.engine, write=False) as session:
        left = dict(session.execute(select(Customer.id, Customer.email)).all())
        requests = (
            session.execute(
                select(PrivacyRequest.customer_id).where(PrivacyRequest.kind == "retention")
            )
            .scalars()
            .all()
        )
    assert left[store.customer_id] == EMAIL
    others = sorted(c for c in customers if c != store.customer_id)
    assert sorted(requests) == others
    assert len(done) == len(others)
    assert all(left[c] is None for c in others)
    # Run again: nobody is anonymised twice.
    assert (
        apply_retention(store.engine, days=401, actor="cli:test", home=store.home, now=later) == []
    )
