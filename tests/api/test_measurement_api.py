"""The measurement endpoints: scope, brand, the 404 of an unknown journey, and the same
report the service computes (the figures themselves are tested in tests/measurement)."""

from __future__ import annotations

from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from recompra.db import unit_of_work
from recompra.measurement.service import roi_report
from samplestore import SampleStore


def test_uplift_lists_the_brands_journeys_and_refuses_an_unknown_one(
    client: TestClient, keys: Keys
) -> None:
    response = client.get("/v1/measurement/uplift", headers=auth(keys.read_a))
    assert response.status_code == 200
    body = response.json()
    assert body["journeys"] == []
    assert body["window_days"] == 30
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
    client: TestClient, keys: Keys, engine: Engine, store: SampleStore
) -> None:
    body = client.get("/v1/measurement/loyalty-roi", headers=auth(keys.read_a)).json()
    with unit_of_work(engine, write=False) as session:
        expected = roi_report(session, brand_id=store.brand_a)
    assert body == expected
    assert body["method"] == "observational_matched"
