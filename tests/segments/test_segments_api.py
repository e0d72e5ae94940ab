"""The /v1/live-segments API: apply and version, 400 with paths, preview, paged members, CSV,
the event feed with its cursor, customer history, archive, goals and scopes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from segmenttest import NOW, brand, customer, order

from dbtest import create_test_engine
from recompra.api.settings import ApiSettings
from recompra.auth.keys import create_api_key
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.server import create_app

SP_BUYERS = {
    "key": "sp_buyers",
    "name": {"pt-BR": "Compradores de SP", "en": "SP buyers"},
    "rule": {
        "all": [
            {"field": "state", "op": "eq", "value": "SP"},
            {"field": "orders", "op": "gte", "value": 1},
        ]
    },
}


class Api:
    def __init__(
        self, client: TestClient, admin: str, reader: str, brand_id: int, customers: list[int]
    ) -> None:
        self.client = client
        self.admin = {"Authorization": f"Bearer {admin}"}
        self.reader = {"Authorization": f"Bearer {reader}"}
        self.brand_id = brand_id
        self.customers = customers

    def post(self, path: str, body: Any, *, admin: bool = True) -> Any:
        return self.client.post(
            f"/v1/live-segments{path}?brand_id={self.brand_id}",
            json=body,
            headers=self.admin if admin else self.reader,
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(
            f"/v1/live-segments{path}",
            params={"brand_id": self.brand_id, **params},
            headers=self.reader,
        )


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    for engine in create_test_engine("sqlite", tmp_path):
        with unit_of_work(engine) as session:
            b = brand(session)
            ids = []
            for i in range(5):
                cid = customer(
                    session,
                    b,
                    state="SP" if i < 4 else "RJ",
                    city="Campinas" if i == 0 else "São Paulo",
                )
                order(session, b, cid, total_minor=10_000 * (i + 1), at=NOW - timedelta(days=i))
                ids.append(cid)
            ids.append(customer(session, b))  # SP, never bought
            _, admin = create_api_key(session, scopes=["admin"])
            _, reader = create_api_key(session, scopes=["read"], brand_id=b)
        app = create_app(
            engine,
            Settings(home=tmp_path, environment="test"),
            ApiSettings(rate_limit_burst=1000, rate_limit_per_second=1000),
        )
        with TestClient(app) as client:
            yield Api(client, admin, reader, b, ids)


def test_apply_version_and_read_back(api: Api) -> None:
    created = api.post("", SP_BUYERS)
    assert created.status_code == 201, created.text
    assert created.json() | {} == {
        "key": "sp_buyers",
        "version": 1,
        "created": True,
        "changed": True,
        "members": 4,
        "entered": 4,
        "exited": 0,
    }
    again = api.post("", SP_BUYERS)
    assert (again.status_code, again.json()["changed"], again.json()["version"]) == (
        200,
        False,
        1,
    )
    narrower = {
        **SP_BUYERS,
        "rule": {
            "all": [
                *SP_BUYERS["rule"]["all"],  # type: ignore[index]
                {"field": "net_revenue", "op": "gte", "value": 250.00},
            ]
        },
    }
    second = api.post("", narrower)
    assert second.json() | {} == {
        "key": "sp_buyers",
        "version": 2,
        "created": False,
        "changed": True,
        "members": 2,
        "entered": 0,
        "exited": 2,
    }
    detail = api.get("/sp_buyers").json()
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    assert detail["definition"]["rule"]["all"][2] == {
        "field": "net_revenue",
        "op": "gte",
        "value": 250.0,
    }
    assert detail["versions"][1]["rule"]["all"][2]["value"] == 25_000  # stored in centavos
    assert [s["key"] for s in api.get("").json()] == ["sp_buyers"]


def test_a_bad_definition_is_a_400_naming_every_path(api: Api) -> None:
    bad = {
        **SP_BUYERS,
        "rule": {
            "any": [
                {"field": "state", "op": "gt", "value": "SP"},
                {"not": {"field": "churn_risk", "op": "gte", "value": "high"}},
            ]
        },
    }
    answer = api.post("", bad)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_segment_definition"
    assert error["field"] == "rule.any[0].op"
    assert "rule.any[0].op:" in error["message"]
    assert "rule.any[1].not.value:" in error["message"]
    assert api.get("").json() == []  # nothing was stored


def test_preview_counts_shares_and_samples(api: Api) -> None:
    answer = api.post("/preview", SP_BUYERS, admin=False)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # 4 of 6 customers; revenue 100+200+300+400 of 1,500.00.
    assert (body["members"], body["customers"]) == (4, 6)
    assert body["revenue_minor"] == 100_000
    assert body["total_revenue_minor"] == 150_000
    assert body["revenue_share"] == pytest.approx(100_000 / 150_000)
    assert [m["customer_id"] for m in body["sample"]] == api.customers[:4]
    assert api.get("").json() == []  # a preview stores nothing


def test_members_pages_filters_and_csv(api: Api) -> None:
    api.post("", SP_BUYERS)
    page = api.get("/sp_buyers/members", limit=3, offset=0).json()
    assert page["total"] == 4
    assert [m["customer_id"] for m in page["items"]] == api.customers[:3]
    rest = api.get("/sp_buyers/members", limit=3, offset=3).json()
    assert [m["customer_id"] for m in rest["items"]] == api.customers[3:4]
    assert rest["items"][0]["net_revenue_minor"] == 40_000
    assert api.get("/sp_buyers/members", state="RJ").json()["total"] == 0
    exported = api.get("/sp_buyers/members.csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(r["customer_id"]) for r in rows] == api.customers[:4]
    assert rows[1]["net_revenue"] == "200.00"
    book = api.get("/sp_buyers/members.xlsx")
    assert book.status_code == 200
    assert book.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(book.content), read_only=True)["sp_buyers"]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert [r[0] for r in values[1:]] == api.customers[:4]
    assert values[2][-1] == 200.0
    assert api.get("/nope/members.xlsx").status_code == 404
    assert api.get("/nope/members").status_code == 404


def test_event_feed_cursor_history_and_archive(api: Api) -> None:
    api.post("", SP_BUYERS)
    first = api.get("/events", limit=2).json()
    assert [(e["customer_id"], e["type"]) for e in first["events"]] == [
        (api.customers[0], "segment_entered"),
        (api.customers[1], "segment_entered"),
    ]
    rest = api.get("/events", cursor=first["cursor"]).json()
    assert [e["customer_id"] for e in rest["events"]] == api.customers[2:4]
    assert api.get("/events", cursor=rest["cursor"]).json() == {
        "events": [],
        "cursor": rest["cursor"],
    }
    archived = api.client.delete(
        f"/v1/live-segments/sp_buyers?brand_id={api.brand_id}", headers=api.admin
    )
    assert archived.json()["exited"] == 4
    history = api.get(f"/customers/{api.customers[0]}").json()
    assert [(e["segment_key"], e["type"], e["version"]) for e in history] == [
        ("sp_buyers", "segment_entered", 1),
        ("sp_buyers", "segment_exited", 1),
    ]
    assert api.get("").json() == []
    assert api.get("", archived=True).json()[0]["status"] == "archived"


def test_writing_needs_admin(api: Api) -> None:
    assert api.post("", SP_BUYERS, admin=False).status_code == 403
    assert api.get("").json() == []


def test_goals_through_the_api(api: Api) -> None:
    api.post("", SP_BUYERS)
    goal = api.client.put(
        f"/v1/live-segments/sp_buyers/goals?brand_id={api.brand_id}",
        json={"kpi": "orders", "period": "2020-Q1", "target": 10},
        headers=api.admin,
    )
    assert goal.status_code == 200, goal.text
    assert goal.json()["status"] == "ended"
    listed = api.get("/sp_buyers/goals").json()
    assert [(g["kpi"], g["period"], g["target"]) for g in listed] == [("orders", "2020-Q1", 10)]
