"""A brand-restricted admin key sees and revokes only its own brand's keys (issue 20, 1b)."""

from __future__ import annotations

from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from recompra.auth.keys import create_api_key
from recompra.db import unit_of_work
from recompra.models import ApiKey
from samplestore import SampleStore


def _brand_admin(engine: Engine, brand_id: int) -> str:
    with unit_of_work(engine) as session:
        _, plain = create_api_key(session, scopes=["admin"], brand_id=brand_id)
    return plain


def _key_id(engine: Engine, plain: str) -> int:
    with unit_of_work(engine, write=False) as session:
        return session.execute(
            select(ApiKey.id).where(ApiKey.prefix == plain.split("_")[1])
        ).scalar_one()


def test_brand_admin_lists_only_its_brand_keys(
    client: TestClient, keys: Keys, engine: Engine, store: SampleStore
) -> None:
    admin_a = _brand_admin(engine, store.brand_a)
    response = client.get("/v1/keys", headers=auth(admin_a))
    assert response.status_code == 200
    assert {k["brand_id"] for k in response.json()} == {store.brand_a}
    listed = {k["id"] for k in response.json()}
    assert _key_id(engine, keys.read_b) not in listed
    assert _key_id(engine, keys.admin) not in listed
    assert _key_id(engine, keys.read_a) in listed


def test_brand_admin_cannot_revoke_another_brands_or_global_key(
    client: TestClient, keys: Keys, engine: Engine, store: SampleStore
) -> None:
    admin_a = _brand_admin(engine, store.brand_a)
    for other in (keys.read_b, keys.admin):
        response = client.post(f"/v1/keys/{_key_id(engine, other)}/revoke", headers=auth(admin_a))
        assert response.status_code == 404
    with unit_of_work(engine, write=False) as session:
        for other in (keys.read_b, keys.admin):
            row = session.get(ApiKey, _key_id(engine, other))
            assert row is not None
            assert row.revoked_at is None
    own = client.post(f"/v1/keys/{_key_id(engine, keys.read_a)}/revoke", headers=auth(admin_a))
    assert own.status_code == 200
    assert own.json()["revoked_at"] is not None


def test_installation_admin_still_lists_every_key(client: TestClient, keys: Keys) -> None:
    response = client.get("/v1/keys", headers=auth(keys.admin))
    assert response.status_code == 200
    # The fixture's keys: two installation-wide admins and four brand keys (A and B).
    assert len(response.json()) == 6
