"""``/v1/voc/*``: the NPS proxy, delivery and topics endpoints and the stored star mapping.

Expected values are recomputed here from the review rows (5 stars promoter, 4 passive,
1-3 detractor by default; docs/voice-of-customer.md).
"""

from __future__ import annotations

import math

from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from recompra.db import unit_of_work
from recompra.models import CustomerScore, Review, VocSetting
from samplestore import SampleStore

Z95 = 1.959963984540054


def _stars(engine: Engine, brand_id: int) -> list[int]:
    with unit_of_work(engine, write=False) as session:
        return list(session.scalars(select(Review.score).where(Review.brand_id == brand_id)))


def test_nps_equals_the_review_rows(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine
) -> None:
    stars = _stars(engine, store.brand_a)
    n = len(stars)
    p_p = sum(s == 5 for s in stars) / n
    p_d = sum(s <= 3 for s in stars) / n
    body = client.get("/v1/voc/nps", headers=auth(keys.read_a)).json()
    nps = body["overall"]["nps"]
    assert body["proxy"] is True
    assert body["mapping"] == {"promoter": [5], "passive": [4], "detractor": [1, 2, 3]}
    assert nps["n"] == n > 0
    assert math.isclose(nps["score"], 100 * (p_p - p_d))
    half = Z95 * 100 * math.sqrt((p_p + p_d - (p_p - p_d) ** 2) / n)
    assert math.isclose(nps["ci_high"], min(100.0, 100 * (p_p - p_d) + half))
    assert set(nps["responses_needed"]) == {"±3", "±5", "±10"}
    assert math.isclose(body["overall"]["csat"]["share"], sum(s >= 4 for s in stars) / n)


def test_nps_by_segment_uses_the_latest_scores(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine
) -> None:
    with unit_of_work(engine, write=False) as session:
        latest = session.scalar(
            select(func.max(CustomerScore.as_of)).where(CustomerScore.brand_id == store.brand_a)
        )
        rows = session.execute(
            select(CustomerScore.segment, func.count())
            .join(Review, Review.customer_id == CustomerScore.customer_id)
            .where(
                CustomerScore.brand_id == store.brand_a,
                CustomerScore.as_of == latest,
                Review.brand_id == store.brand_a,
            )
            .group_by(CustomerScore.segment)
        ).all()
    body = client.get("/v1/voc/nps?by=segment", headers=auth(keys.read_a)).json()
    assert {g["key"]: g["nps"]["n"] for g in body["groups"]} == dict(rows)


def test_unknown_dimension_is_refused(client: TestClient, keys: Keys) -> None:
    response = client.get("/v1/voc/nps?by=colour", headers=auth(keys.read_a))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "by"


def test_a_brand_without_reviews_has_no_score(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine
) -> None:
    assert _stars(engine, store.brand_b) == []
    body = client.get("/v1/voc/nps", headers=auth(keys.read_b)).json()
    assert body["overall"]["nps"]["n"] == 0
    assert body["overall"]["nps"]["score"] is None
    assert client.get("/v1/voc/topics", headers=auth(keys.read_b)).json()["comments"] == 0
    delivery = client.get("/v1/voc/delivery", headers=auth(keys.read_b)).json()
    assert delivery["statuses"] == []


def test_delivery_and_topics_answer_for_the_brand(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine
) -> None:
    delivery = client.get("/v1/voc/delivery", headers=auth(keys.read_a)).json()
    assert sum(s["nps"]["n"] for s in delivery["statuses"]) == len(_stars(engine, store.brand_a))
    topics = client.get("/v1/voc/topics", headers=auth(keys.read_a)).json()
    assert topics["negative_rule"] == "stars <= 2"


def test_mapping_is_stored_by_an_admin_and_changes_the_score(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine
) -> None:
    refused = client.put(
        "/v1/voc/mapping",
        json={"promoter_min": 4, "detractor_max": 2},
        headers=auth(keys.read_a),
    )
    assert refused.status_code == 403
    wrong = client.put(
        f"/v1/voc/mapping?brand_id={store.brand_a}",
        json={"promoter_min": 3, "detractor_max": 3},
        headers=auth(keys.admin),
    )
    assert wrong.status_code == 400
    with unit_of_work(engine, write=False) as session:
        assert session.get(VocSetting, store.brand_a) is None  # nothing stored
    stored = client.put(
        f"/v1/voc/mapping?brand_id={store.brand_a}",
        json={"promoter_min": 4, "detractor_max": 2},
        headers=auth(keys.admin),
    )
    assert stored.status_code == 200
    assert stored.json() == {"promoter": [4, 5], "passive": [3], "detractor": [1, 2]}
    assert client.get("/v1/voc/mapping", headers=auth(keys.read_a)).json() == stored.json()
    stars = _stars(engine, store.brand_a)
    expected = 100 * (sum(s >= 4 for s in stars) - sum(s <= 2 for s in stars)) / len(stars)
    body = client.get("/v1/voc/nps", headers=auth(keys.read_a)).json()
    assert math.isclose(body["overall"]["nps"]["score"], expected)
    assert body["mapping"] == stored.json()
