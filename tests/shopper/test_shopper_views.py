"""The shopper's page through its HTML routes: sign-in by link, one tap, the cookie scoped
to the brand's page, a quiz answered once, and nothing of another brand or shopper."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from recompra.db import unit_of_work
from recompra.loyalty.quizzes.service import Question, define_quiz
from shopworld import Shop, mailed_link, new_shop


def _open_page(client: TestClient, engine: Engine, shop: Shop, customer: int, email: str) -> str:
    """Sign in through the forms; return the page's HTML."""
    form = client.get(f"/shop/{shop.slug}")
    assert 'name="email"' in form.text
    sent = client.post(f"/shop/{shop.slug}/sign-in", data={"email": email})
    assert sent.status_code == 200
    assert 'data-shopper="sent"' in sent.text
    link = mailed_link(engine, customer)
    confirm = client.get(link)
    assert "shopper-enter" in confirm.text  # a GET spends nothing
    opened = client.post(link)
    assert opened.status_code == 200  # after the redirect
    assert "recompra_shopper" in client.cookies
    return opened.text


def test_sign_in_take_a_quiz_once_and_stay_on_this_brand(
    client: TestClient, engine: Engine, shop: Shop
) -> None:
    with unit_of_work(engine) as s:
        define_quiz(
            s,
            program_id=shop.program_id,
            code="marca",
            title="Conheça a marca",
            questions=[Question("Prazo de troca?", ("7 dias", "90 dias"), 0)],
            pass_mark=1,
            reward_points=50,
            reward_coupon="10% na próxima compra",
        )
    ana, email = shop.customer("Ana Souza")
    html = _open_page(client, engine, shop, ana, email)
    assert "Olá, Ana!" in html
    assert 'data-quiz="marca"' in html
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert csrf is not None
    # Without the form token the post is refused.
    forged = client.post(f"/shop/{shop.slug}/quizzes/marca", data={"q0": "0"})
    assert forged.status_code == 403
    done = client.post(f"/shop/{shop.slug}/quizzes/marca", data={"csrf": csrf[1], "q0": "0"})
    assert 'data-notice="quiz_passed"' in done.text
    assert 'data-quiz-result="passed"' in done.text
    assert 'data-points="available">50<' in done.text
    again = client.post(f"/shop/{shop.slug}/quizzes/marca", data={"csrf": csrf[1], "q0": "0"})
    assert 'data-notice="quiz_quiz_already_attempted"' in again.text
    # The cookie is scoped to this brand's page: another brand's page asks for sign-in.
    other = new_shop(engine)
    assert 'name="email"' in client.get(f"/shop/{other.slug}").text
    # ... and cannot be replayed there (a forged path cookie is no session either).
    client.cookies.set(
        "recompra_shopper", client.cookies["recompra_shopper"], path=f"/shop/{other.slug}"
    )
    assert 'name="email"' in client.get(f"/shop/{other.slug}").text


def test_a_dashboard_session_is_not_a_shopper_session(client: TestClient, shop: Shop) -> None:
    client.cookies.set("recompra_session", "anything.at-all")
    page = client.get(f"/shop/{shop.slug}")
    assert 'name="email"' in page.text
    refused = client.post(f"/shop/{shop.slug}/redeem/vale", data={"csrf": "x"})
    assert refused.status_code == 401
