"""Sign-in with a one-time e-mail link: the outbox e-mail, single use, expiry, rate limit,
no account enumeration, and sessions scoped to one customer and one brand."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from recompra.db import unit_of_work
from recompra.models.automation import OutboxMessage
from recompra.models.base import utcnow
from recompra.models.shopper import ShopperSession, ShopperSignInLink
from recompra.privacy.service import erase_customer
from recompra.shopper.signin import MAX_LINKS, token_hash
from shopworld import Shop, mailed_link, new_shop


def sign_in(client: TestClient, engine: Engine, shop: Shop, customer: int, email: str) -> str:
    """Ask for a link by API, spend it, and return the session token."""
    asked = client.post("/v1/shopper/sign-in", json={"brand": shop.slug, "email": email})
    assert asked.status_code == 202, asked.text
    opened = client.post(
        "/v1/shopper/sessions",
        json={"brand": shop.slug, "token": mailed_link(engine, customer).rsplit("/", 1)[1]},
    )
    assert opened.status_code == 201, opened.text
    token: str = opened.json()["token"]
    return token


def test_the_link_is_mailed_through_the_outbox_and_opens_one_session(
    client: TestClient, engine: Engine, shop: Shop
) -> None:
    customer, email = shop.customer()
    asked = client.post("/v1/shopper/sign-in", json={"brand": shop.slug, "email": email.upper()})
    assert asked.status_code == 202
    with unit_of_work(engine, write=False) as s:
        message = s.scalars(
            select(OutboxMessage).where(OutboxMessage.customer_id == customer)
        ).one()
        link = s.scalars(
            select(ShopperSignInLink).where(ShopperSignInLink.customer_id == customer)
        ).one()
    assert (message.channel, message.purpose, message.state) == (
        "email",
        "transactional",
        "pending",
    )
    assert message.payload["to"] == email
    token = mailed_link(engine, customer).rsplit("/", 1)[1]
    # Stored hashed: the table never holds the token itself.
    assert link.token_hash == token_hash(token)
    assert token not in str(link.__dict__)
    opened = client.post("/v1/shopper/sessions", json={"brand": shop.slug, "token": token})
    assert opened.status_code == 201
    again = client.post("/v1/shopper/sessions", json={"brand": shop.slug, "token": token})
    assert again.status_code == 401  # single use
    me = client.get("/v1/shopper/me", headers={"Authorization": f"Bearer {opened.json()['token']}"})
    assert me.status_code == 200
    assert me.json()["brand_name"].startswith("Loja")


def test_an_unknown_email_gets_the_same_answer_and_no_mail(
    client: TestClient, engine: Engine, shop: Shop
) -> None:
    known, email = shop.customer()
    answers = [
        client.post("/v1/shopper/sign-in", json={"brand": shop.slug, "email": address})
        for address in (email, "nobody-here@example.com")
    ]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    with unit_of_work(engine, write=False) as s:
        rows = s.scalars(
            select(ShopperSignInLink).where(ShopperSignInLink.brand_id == shop.brand_id)
        ).all()
        mails = s.scalars(
            select(OutboxMessage.customer_id).where(OutboxMessage.brand_id == shop.brand_id)
        ).all()
    assert mails == [known]
    unknown = [r for r in rows if r.customer_id is None]
    assert len(unknown) == 1
    assert unknown[0].token_hash is None
    # The address itself is nowhere in the row.
    assert "nobody-here" not in str(unknown[0].__dict__)


def test_requests_are_rate_limited_per_address_known_or_not(client: TestClient, shop: Shop) -> None:
    _, email = shop.customer()
    for address in (email, "ghost@example.com"):
        codes = [
            client.post(
                "/v1/shopper/sign-in", json={"brand": shop.slug, "email": address}
            ).status_code
            for _ in range(MAX_LINKS + 1)
        ]
        assert codes == [202] * MAX_LINKS + [429]


def test_an_expired_forged_or_other_brands_link_is_refused(
    client: TestClient, engine: Engine, shop: Shop
) -> None:
    customer, email = shop.customer()
    client.post("/v1/shopper/sign-in", json={"brand": shop.slug, "email": email})
    token = mailed_link(engine, customer).rsplit("/", 1)[1]
    other = new_shop(engine)
    wrong_brand = client.post("/v1/shopper/sessions", json={"brand": other.slug, "token": token})
    forged = client.post(
        "/v1/shopper/sessions", json={"brand": shop.slug, "token": token[:-3] + "AAA"}
    )
    assert (wrong_brand.status_code, forged.status_code) == (401, 401)
    with unit_of_work(engine) as s:
        link = s.scalars(
            select(ShopperSignInLink).where(ShopperSignInLink.customer_id == customer)
        ).one()
        link.expires_at = utcnow() - timedelta(seconds=1)
    expired = client.post("/v1/shopper/sessions", json={"brand": shop.slug, "token": token})
    assert expired.status_code == 401
    with unit_of_work(engine, write=False) as s:
        sessions = s.scalars(
            select(ShopperSession).where(ShopperSession.customer_id == customer)
        ).all()
    assert sessions == []


def test_a_session_reads_only_its_customer_and_ends_at_sign_out(
    client: TestClient, engine: Engine, shop: Shop
) -> None:
    ana, ana_email = shop.customer("Ana Souza")
    bia, bia_email = shop.customer("Bia Lima")
    token = sign_in(client, engine, shop, ana, ana_email)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/shopper/me", headers=headers).json()["first_name"] == "Ana"
    # No route takes a customer id: naming Bia in a body is refused, not obeyed.
    claim = client.post(
        "/v1/shopper/redemptions",
        headers=headers,
        json={"reward_code": "x", "request_key": "k", "customer_id": bia},
    )
    assert claim.status_code == 422
    # An API key is not a shopper token, and no token is no page.
    assert client.get("/v1/shopper/me").status_code == 401
    assert client.get("/v1/shopper/me", headers={"Authorization": "Bearer rk_x"}).status_code == 401
    assert client.delete("/v1/shopper/session", headers=headers).status_code == 204
    assert client.get("/v1/shopper/me", headers=headers).status_code == 401
    assert bia_email  # Bia's own sign-in is a separate session


def test_erasing_the_customer_ends_their_sessions_and_unspent_links(
    client: TestClient, engine: Engine, shop: Shop, tmp_path: Path
) -> None:
    customer, email = shop.customer("Caio Prado")
    phone = sign_in(client, engine, shop, customer, email)
    laptop = sign_in(client, engine, shop, customer, email)
    client.post("/v1/shopper/sign-in", json={"brand": shop.slug, "email": email})
    unspent = mailed_link(engine, customer).rsplit("/", 1)[1]
    for token in (phone, laptop):
        me = client.get("/v1/shopper/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
    erase_customer(engine, customer, actor="cli:test", home=tmp_path)
    for token in (phone, laptop):
        me = client.get("/v1/shopper/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401
    late = client.post("/v1/shopper/sessions", json={"brand": shop.slug, "token": unspent})
    assert late.status_code == 401
