"""The measurement endpoints and page: scope, brand, the 404 of an unknown journey, the
report the worker stored (the figures themselves are tested in tests/measurement), and
that neither the page nor the API computes a report in the request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from apitest import Keys, auth
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from recompra.auth.users import create_user
from recompra.db import unit_of_work
from recompra.measurement import service
from recompra.measurement.loyalty_roi import RoiSettings
from recompra.measurement.reports import page_specs, refresh_reports
from recompra.measurement.service import roi_report
from recompra.models import Order
from samplestore import SampleStore

METADATA = ("computed_at", "updating")


def _refresh(app: FastAPI) -> int:
    specs = page_specs(point_value_minor_per_1000=app.state.settings.point_value_minor_per_1000)
    return refresh_reports(app.state.engine, specs=specs, now=datetime.now(UTC))


def test_uplift_is_pending_then_lists_the_brands_journeys_and_refuses_an_unknown_one(
    client: TestClient, keys: Keys, app: FastAPI
) -> None:
    pending = client.get("/v1/measurement/uplift", headers=auth(keys.read_a))
    assert pending.status_code == 409
    assert pending.json()["error"]["code"] == "report_pending"
    assert _refresh(app) == 4  # two brands, two reports each
    response = client.get("/v1/measurement/uplift", headers=auth(keys.read_a))
    assert response.status_code == 200
    body = response.json()
    assert body["journeys"] == []
    assert body["window_days"] == 30
    assert body["updating"] is False
    assert body["attribution_windows_days"] == {
        "email_click": 5.0,
        "email_open": 1.0,
        "webhook": 1.0,
    }
    missing = client.get("/v1/measurement/uplift?journey=nope", headers=auth(keys.read_a))
    assert missing.status_code == 404


def test_measurement_needs_the_read_scope(client: TestClient, keys: Keys) -> None:
    assert client.get("/v1/measurement/uplift", headers=auth(keys.ingest_a)).status_code == 403
    assert client.get("/v1/measurement/loyalty-roi").status_code == 401


def test_loyalty_roi_is_the_service_report(
    client: TestClient, keys: Keys, engine: Engine, store: SampleStore, app: FastAPI
) -> None:
    _refresh(app)
    body = client.get("/v1/measurement/loyalty-roi", headers=auth(keys.read_a)).json()
    custom = client.get(
        "/v1/measurement/loyalty-roi?post_days=90", headers=auth(keys.read_a)
    ).json()
    with unit_of_work(engine, write=False) as session:
        expected = roi_report(session, brand_id=store.brand_a)
        expected_custom = roi_report(
            session, brand_id=store.brand_a, settings=RoiSettings(post_days=90)
        )
    assert {k: v for k, v in body.items() if k not in METADATA} == expected
    assert body["method"] == "observational_matched"
    assert custom == expected_custom


def _no_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every report computation fails from here on."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a request computed a measurement report")

    monkeypatch.setattr(service, "journey_uplift", refuse)
    monkeypatch.setattr(service, "loyalty_roi", refuse)


def test_after_new_data_page_and_api_answer_the_stored_report_without_computing(
    client: TestClient,
    keys: Keys,
    engine: Engine,
    store: SampleStore,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with unit_of_work(engine) as session:
        create_user(
            session, email="gerente@example.com", password="senha-1234", brand_id=store.brand_a
        )
    client.post("/login", data={"email": "gerente@example.com", "password": "senha-1234"})
    _no_computation(monkeypatch)
    # Before the worker's first pass: a clear state, in Portuguese.
    pending = client.get("/dashboard/measurement")
    assert pending.status_code == 200
    assert 'data-report-status="pending"' in pending.text
    assert "Estamos calculando estes números" in pending.text
    monkeypatch.undo()
    _refresh(app)
    before = client.get("/v1/measurement/loyalty-roi", headers=auth(keys.read_a)).json()
    with unit_of_work(engine) as session:
        session.add(
            Order(
                brand_id=store.brand_a,
                source="test",
                external_id="NEW-1",
                customer_id=store.customers_a[0],
                status="delivered",
                purchased_at=datetime(2024, 7, 1, 12, tzinfo=UTC),
                total_minor=12_345,
                items_total_minor=12_345,
            )
        )
    _no_computation(monkeypatch)
    page = client.get("/dashboard/measurement")
    assert page.status_code == 200
    assert 'data-report-status="updating"' in page.text
    assert "atualizando com os dados novos" in page.text
    after = client.get("/v1/measurement/loyalty-roi", headers=auth(keys.read_a)).json()
    assert after["updating"] is True
    assert after == {**before, "updating": True}
    uplift = client.get("/v1/measurement/uplift", headers=auth(keys.read_a)).json()
    assert uplift["updating"] is True
