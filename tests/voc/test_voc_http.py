"""The case and survey API (scopes, status codes) and the dashboard and public survey
pages over HTTP (no browser): one SQLite app per test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from voctest import SECRET, make_shop

from dbtest import create_test_engine
from recompra.api.settings import ApiSettings
from recompra.auth.keys import create_api_key
from recompra.auth.users import create_user
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.models.automation import OutboxMessage
from recompra.models.voc import SurveyAnswer
from recompra.server import create_app


@dataclass
class Site:
    """A test client with an admin and a read key of the shop's brand."""

    client: TestClient
    admin: dict[str, str]
    read: dict[str, str]
    customers: list[int]
    engine: object


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("RECOMPRA_PUBLIC_URL", "https://loja.test")
    for engine in create_test_engine("sqlite", tmp_path):
        shop = make_shop(engine)
        with unit_of_work(engine) as session:
            _, admin = create_api_key(session, scopes=["admin"], brand_id=shop.brand_id)
            _, read = create_api_key(session, scopes=["read"], brand_id=shop.brand_id)
            create_user(session, email="ana@loja.test", password="senha-segura-1")
        app = create_app(
            engine,
            Settings(home=tmp_path, environment="test", secret_key=SECRET),
            ApiSettings(rate_limit_burst=1000, rate_limit_per_second=1000),
        )
        with TestClient(app) as client:
            yield Site(
                client,
                {"Authorization": f"Bearer {admin}"},
                {"Authorization": f"Bearer {read}"},
                shop.customers,
                engine,
            )


def test_cases_through_the_api(site: Site) -> None:
    c = site.client
    body = {
        "type": "complaint",
        "priority": "high",
        "subject": "Atraso",
        "customer_id": site.customers[0],
    }
    assert c.post("/v1/cases", json=body, headers=site.read).status_code == 403
    created = c.post("/v1/cases", json=body, headers=site.admin)
    assert created.status_code == 201, created.json()
    case = created.json()["case"]
    case_id = case["id"]
    assert (case["status"], case["first_response"]["status"]) == ("new", "due")
    assert (
        c.post("/v1/cases", json={**body, "priority": "huge"}, headers=site.admin).status_code
        == 422
    )
    assert c.get("/v1/cases/999999", headers=site.read).status_code == 404
    assigned = c.post(
        f"/v1/cases/{case_id}/assign", json={"owner": "ana", "team": "suporte"}, headers=site.admin
    )
    assert assigned.json()["case"]["owner"] == "ana"
    replied = c.post(
        f"/v1/cases/{case_id}/replies", json={"body": "Já verificamos."}, headers=site.admin
    )
    assert replied.status_code == 201
    assert replied.json()["case"]["status"] == "open"
    waiting = c.post(
        f"/v1/cases/{case_id}/status", json={"status": "waiting_on_customer"}, headers=site.admin
    )
    assert waiting.json()["case"]["resolution"]["status"] == "paused"
    assert (
        c.post(
            f"/v1/cases/{case_id}/resolve", json={"reason": "Reenviado"}, headers=site.admin
        ).status_code
        == 200
    )
    assert (
        c.post(
            f"/v1/cases/{case_id}/status", json={"status": "new"}, headers=site.admin
        ).status_code
        == 409
    )
    detail = c.get(f"/v1/cases/{case_id}", headers=site.read).json()
    assert [h["to_status"] for h in detail["history"]] == [
        "new",
        "open",
        "waiting_on_customer",
        "resolved",
    ]
    listed = c.get("/v1/cases", params={"status": "all"}, headers=site.read).json()
    assert [r["id"] for r in listed["items"]] == [case_id]
    assert (
        c.get("/v1/cases/sla", params={"by": "owner"}, headers=site.read).json()[0]["group"]
        == "ana"
    )
    assert c.get("/v1/cases/detractors", headers=site.read).json()["decided"] == 0
    assert c.get("/v1/cases/breaching", headers=site.read).status_code == 200
    policy = {"priority": "urgent", "first_response_minutes": 30, "resolution_minutes": 240}
    assert (
        c.put("/v1/cases/sla/policies/urgentes", json=policy, headers=site.admin).status_code == 200
    )
    assert (
        c.put("/v1/cases/sla/policies/urgentes", json=policy, headers=site.read).status_code == 403
    )


def test_surveys_through_the_api_and_the_public_page(site: Site) -> None:
    c = site.client
    sent = c.post(
        "/v1/surveys/sends",
        json={"customer_id": site.customers[0], "kind": "nps"},
        headers=site.admin,
    )
    assert sent.status_code == 201, sent.json()
    with unit_of_work(site.engine, write=False) as session:  # type: ignore[arg-type]
        text = session.scalars(select(OutboxMessage.payload)).one()["text"]
    token = re.search(r"https://loja\.test/survey/([^?\s]+)\?score=9", text).group(1)  # type: ignore[union-attr]
    link = c.get(f"/v1/surveys/links/{token}").json()
    assert (link["kind"], link["low"], link["high"], link["answered"]) == ("nps", 0, 10, False)
    page = c.get(f"/survey/{token}?score=9")
    assert page.status_code == 200
    assert 'value="9" checked' in page.text
    assert "De 0 a 10" in page.text
    assert c.get(f"/survey/{token}x").status_code == 400
    thanks = c.post(f"/survey/{token}", data={"score": "9", "comment": "Rápido"})
    assert thanks.status_code == 200
    assert "Obrigado" in thanks.text
    assert c.post(f"/survey/{token}", data={"score": "2"}).status_code == 409
    assert c.post("/v1/surveys/answers", json={"token": token, "score": 1}).status_code == 409
    assert (
        c.post("/v1/surveys/answers", json={"token": token[:-1] + "A", "score": 1}).status_code
        == 400
    )
    listed = c.get("/v1/surveys/sends", headers=site.read).json()
    assert (listed["total"], listed["items"][0]["score"], listed["items"][0]["comment"]) == (
        1,
        9,
        "Rápido",
    )
    with unit_of_work(site.engine, write=False) as session:  # type: ignore[arg-type]
        assert len(session.scalars(select(SurveyAnswer)).all()) == 1


def test_dashboard_case_pages_and_actions(site: Site) -> None:
    c = site.client
    body = {"type": "question", "subject": "Troca de tamanho", "customer_id": site.customers[1]}
    case_id = c.post("/v1/cases", json=body, headers=site.admin).json()["case"]["id"]
    assert c.get("/dashboard/cases", follow_redirects=False).status_code in (302, 303)
    c.post("/login", data={"email": "ana@loja.test", "password": "senha-segura-1"})
    queue = c.get("/dashboard/cases")
    assert queue.status_code == 200
    assert "Troca de tamanho" in queue.text
    found = re.search(r'name="csrf" value="([^"]+)"', c.get(f"/dashboard/cases/{case_id}").text)
    assert found is not None
    token = found.group(1)
    # A form posted from another site has no token (422, as on the admin forms) or a wrong
    # one (403): refused either way, and nothing is written.
    note_path, assign_path = (
        f"/dashboard/cases/{case_id}/note",
        f"/dashboard/cases/{case_id}/assign",
    )
    assert c.post(note_path, data={"body": "Forjada"}).status_code == 422
    assert c.post(note_path, data={"body": "Forjada", "csrf": "x"}).status_code == 403
    assert c.post(assign_path, data={"owner": "intruso", "csrf": "x"}).status_code == 403
    assert c.post(assign_path, data={"owner": "intruso"}).status_code == 422
    note = c.post(
        f"/dashboard/cases/{case_id}/note",
        data={"body": "Cliente VIP", "csrf": token},
        follow_redirects=False,
    )
    assert note.headers["location"] == f"/dashboard/cases/{case_id}?done=1"
    refused = c.post(
        f"/dashboard/cases/{case_id}/status",
        data={"status": "resolved", "csrf": token},
        follow_redirects=False,
    )
    assert refused.headers["location"] == f"/dashboard/cases/{case_id}?error=1"  # no reason
    page = c.get(f"/dashboard/cases/{case_id}")
    assert "Cliente VIP" in page.text
    assert "Forjada" not in page.text
    assert "intruso" not in page.text
    assert 'data-case-status="new"' in page.text
    assert c.get("/dashboard/cases/999999").status_code == 404
