"""Commercial endpoints: scopes, the pipeline round trip, spend and CAC, maturity, lead
scores."""

from __future__ import annotations

from datetime import UTC, date, datetime

from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from recompra.commercial.deals import ensure_stages
from recompra.db import unit_of_work
from recompra.models import Lead, Opportunity
from samplestore import SampleStore


def test_reads_need_a_key_and_writes_need_admin(
    client: TestClient, keys: Keys, store: SampleStore
) -> None:
    assert client.get("/v1/commercial/kanban").status_code == 401
    ok = client.get("/v1/commercial/kanban", headers=auth(keys.read_a))
    assert ok.status_code == 200
    assert ok.json()[0]["key"] == "prospecting"
    refused = client.post(
        "/v1/commercial/opportunities", json={"external_id": "x"}, headers=auth(keys.read_a)
    )
    assert refused.status_code == 403


def test_pipeline_round_trip_with_mandatory_lost_reason(
    client: TestClient, keys: Keys, store: SampleStore
) -> None:
    admin = auth(keys.admin)
    brand = {"brand_id": store.brand_a}
    created = client.post(
        "/v1/commercial/opportunities",
        params=brand,
        json={"external_id": "acme", "company": "ACME", "amount_minor": 120_000},
        headers=admin,
    )
    assert created.status_code == 201
    opp = created.json()["id"]
    no_reason = client.post(
        f"/v1/commercial/opportunities/{opp}/stage",
        params=brand,
        json={"stage": "lost"},
        headers=admin,
    )
    assert no_reason.status_code == 400
    assert no_reason.json()["error"]["field"] == "lost_reason"
    proposal = client.post(
        f"/v1/commercial/opportunities/{opp}/activities",
        params=brand,
        json={
            "kind": "proposal",
            "proposal_amount_minor": 100_000,
            "proposal_valid_until": "2026-12-31",
        },
        headers=admin,
    )
    assert proposal.status_code == 201
    won = client.post(
        f"/v1/commercial/opportunities/{opp}/stage",
        params=brand,
        json={"stage": "won"},
        headers=admin,
    )
    assert won.status_code == 200
    assert won.json()["status"] == "won"
    assert won.json()["customer_id"] is not None
    columns = client.get("/v1/commercial/kanban", params=brand, headers=admin).json()
    assert {c["key"]: (c["count"], c["amount_minor"]) for c in columns}["won"] == (1, 120_000)


def test_spend_then_cac(client: TestClient, keys: Keys, store: SampleStore) -> None:
    admin = auth(keys.admin)
    brand = {"brand_id": store.brand_a}
    before = client.get("/v1/commercial/cac", params=brand, headers=admin).json()
    assert all(a["blended_minor"] is None for a in before["audiences"])
    put = client.put(
        "/v1/commercial/spend",
        params=brand,
        json=[
            {
                "month": "2024-03-15",
                "channel": "paid_search",
                "audience": "b2c",
                "amount_minor": 50_000,
            }
        ],
        headers=admin,
    )
    assert put.json() == {"inserted": 1, "updated": 0, "unchanged": 0}
    after = client.get("/v1/commercial/cac", params=brand, headers=admin).json()
    b2c = after["audiences"][0]
    assert b2c["spend_minor"] == 50_000


def test_maturity_answers_are_capped(client: TestClient, keys: Keys, store: SampleStore) -> None:
    admin = auth(keys.admin)
    brand = {"brand_id": store.brand_a}
    answered = client.put(
        "/v1/commercial/maturity/answers",
        params=brand,
        json={"answers": {"pipeline_forecast": [True, True, True, True]}},
        headers=admin,
    )
    assert answered.status_code == 200
    pipeline = next(d for d in answered.json()["dimensions"] if d["key"] == "pipeline_forecast")
    assert pipeline["claimed"] == 5
    assert pipeline["level"] == 1  # the sample store has no leads or opportunities
    bad = client.put(
        "/v1/commercial/maturity/answers",
        params=brand,
        json={"answers": {"astrology": [True]}},
        headers=admin,
    )
    assert bad.status_code == 400


def test_lead_score_fit_is_stored_and_listed(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine
) -> None:
    # 40 leads on two channels, 12 converting: enough for the 5-fold cross-validation.
    with unit_of_work(engine) as session:
        won = ensure_stages(session, brand_id=store.brand_b)["won"]
        for n in range(40):
            lead = Lead(
                brand_id=store.brand_b,
                source="api-test",
                external_id=f"fit-{n}",
                channel="partner" if n < 20 else "display",
                first_contact_on=date(2026, 1, 5),
            )
            session.add(lead)
            session.flush()
            if n % 20 < 6:
                session.add(
                    Opportunity(
                        brand_id=store.brand_b,
                        source="api-test",
                        external_id=f"fit-deal-{n}",
                        lead_id=lead.id,
                        stage_id=won.id,
                        status="won",
                        closed_at=datetime(2026, 2, 1, tzinfo=UTC),
                    )
                )
    assert client.get("/v1/commercial/leads/fits").status_code == 401
    fitted = client.post(
        "/v1/commercial/leads/score",
        params={"brand_id": store.brand_b},
        headers=auth(keys.admin),
    )
    assert fitted.status_code == 200, fitted.text
    body = fitted.json()
    assert body["scored"] == 40
    listed = client.get("/v1/commercial/leads/fits", headers=auth(keys.read_b)).json()
    newest = listed["fits"][0]
    chosen = next(m for m in body["models"] if m["model"] == body["chosen"])
    assert (newest["version"], newest["model"], newest["leads"]) == (
        body["version"],
        body["chosen"],
        40,
    )
    assert newest["auc"] == chosen["auc"]
    assert listed["scored"] == 40
    # The best-scored unconverted leads: never a lead with a won deal.
    assert all(int(lead["external_id"].split("-")[1]) % 20 >= 6 for lead in listed["top_leads"])
