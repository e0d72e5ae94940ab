"""Cases: lifecycle, status history, SLA deadlines with a pause, replies through the
outbox, policies, and refused actions that change nothing. Deadlines are worked by hand
(São Paulo is UTC-3; 09:00-18:00 is 540 business minutes a day)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, select
from voctest import LINKS, SP, WEDNESDAY_10H, make_shop

from recompra.db import unit_of_work
from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.models.automation import OutboxMessage
from recompra.models.voc import Case, CaseMessage, CaseStatusChange
from recompra.voc.cases import (
    NewCase,
    add_note,
    assign,
    change_status,
    get_case,
    open_case,
    reply,
    resolve,
)
from recompra.voc.policies import set_policy
from recompra.voc.queue import CaseFilter, about_to_breach, clocks, list_cases, sla_met


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A São Paulo time in June 2026."""
    return datetime(2026, 6, day, hour, minute, tzinfo=SP)


def _open(engine: Engine, customer_id: int, *, brand_id: int, **changes: object) -> int:
    """Open a case of ``customer_id`` at Wednesday 10:00; ``changes`` override the values."""
    values: dict[str, object] = {
        "type": "complaint",
        "priority": "normal",
        "channel": "email",
        "subject": "Produto chegou quebrado",
        "customer_id": customer_id,
        **changes,
    }
    with unit_of_work(engine) as session:
        case = open_case(
            session,
            brand_id=brand_id,
            new=NewCase(**values),  # type: ignore[arg-type]
            actor="ana@loja.test",
            now=WEDNESDAY_10H,
        )
        return case.id


def test_a_case_through_its_life_with_a_pause(engine: Engine) -> None:
    shop = make_shop(engine)
    case_id = _open(engine, shop.customers[0], brand_id=shop.brand_id, order_id=shop.orders[0])
    with unit_of_work(engine) as session:
        case = get_case(session, brand_id=shop.brand_id, case_id=case_id)
        # Default "normal" targets: 480 minutes -> Wed 18:00; 2,700 minutes (five days
        # of 540) -> 480 Wed + 540 Thu, Fri, Mon, Tue + 60 -> Wed 24 June 10:00.
        assert case.first_response_due_at == local(17, 18)
        assert case.resolution_due_at == local(24, 10)
        assign(session, case=case, owner="ana@loja.test", team="suporte", now=WEDNESDAY_10H)
        add_note(session, case=case, author="ana@loja.test", body="Pedir foto", now=WEDNESDAY_10H)
        reply(
            session,
            case=case,
            author="ana@loja.test",
            body="Sentimos muito! Pode enviar uma foto?",
            links=LINKS,
            now=local(17, 10, 30),
        )
        assert (case.status, case.first_response_at) == ("open", local(17, 10, 30))
        change_status(
            session, case=case, to="waiting_on_customer", actor="ana@loja.test", now=local(17, 11)
        )
        first, resolution = clocks(case, local(17, 12))
        assert (first.status, resolution.status, case.resolution_due_at) == (
            "fulfilled",
            "paused",
            None,
        )
        # The customer answers Thursday 11:00: the pause held Wed 11-18 (420) and Thu
        # 9-11 (120) = 540 minutes, so the resolution deadline moves a business day.
        change_status(session, case=case, to="open", actor="cliente", now=local(18, 11))
        assert case.resolution_due_at == local(25, 10)
        assert case.first_response_due_at == local(17, 18)  # its clock had stopped
    with unit_of_work(engine) as session:
        case = get_case(session, brand_id=shop.brand_id, case_id=case_id)
        with pytest.raises(InvalidInput):
            resolve(session, case=case, reason="  ", actor="ana@loja.test", now=local(18, 12))
    with unit_of_work(engine) as session:
        case = get_case(session, brand_id=shop.brand_id, case_id=case_id)
        assert (case.status, case.resolved_at) == ("open", None)  # the refusal changed nothing
        resolve(
            session, case=case, reason="Troca enviada", actor="ana@loja.test", now=local(18, 12)
        )
        assert clocks(case, local(18, 13))[1].status == "fulfilled"
        change_status(session, case=case, to="closed", actor="ana@loja.test", now=local(19, 9))
        with pytest.raises(Conflict):
            reply(session, case=case, author="x", body="oi", links=LINKS, now=local(19, 10))
        with pytest.raises(Conflict):
            change_status(session, case=case, to="open", actor="x", now=local(19, 10))
    with unit_of_work(engine, write=False) as session:
        statuses = session.scalars(
            select(CaseStatusChange.to_status)
            .where(CaseStatusChange.case_id == case_id)
            .order_by(CaseStatusChange.id)
        ).all()
        outbox = session.scalars(select(OutboxMessage)).one()
        messages = session.scalars(select(CaseMessage.kind).order_by(CaseMessage.id)).all()
    assert statuses == ["new", "open", "waiting_on_customer", "open", "resolved", "closed"]
    assert messages == ["note", "reply"]
    assert (outbox.run_id, outbox.purpose, outbox.channel, outbox.state) == (
        None,
        "transactional",
        "email",
        "pending",
    )
    assert outbox.payload["to"] == "c0@example.com"
    assert (
        outbox.payload["subject"]
        == f"[Loja Exemplo] Atendimento nº {case_id}: Produto chegou quebrado"
    )
    assert "Pode enviar uma foto?" in outbox.payload["text"]
    assert "Pedir foto" not in outbox.payload["text"]  # notes stay internal


def test_bad_input_is_refused(engine: Engine) -> None:
    shop = make_shop(engine)
    with pytest.raises(InvalidInput):
        _open(engine, shop.customers[0], brand_id=shop.brand_id, priority="huge")
    with pytest.raises(NotFound):
        _open(engine, 999_999, brand_id=shop.brand_id)
    with pytest.raises(NotFound):
        _open(engine, shop.customers[0], brand_id=shop.brand_id, order_id=999_999)
    with unit_of_work(engine, write=False) as session:
        assert session.scalars(select(Case)).all() == []


def test_the_most_specific_policy_wins(engine: Engine) -> None:
    shop = make_shop(engine)
    with unit_of_work(engine) as session:
        set_policy(
            session,
            brand_id=shop.brand_id,
            name="altas",
            priority="high",
            case_type=None,
            channel=None,
            first_response_minutes=120,
            resolution_minutes=600,
        )
        set_policy(
            session,
            brand_id=shop.brand_id,
            name="altas por avaliação",
            priority="high",
            case_type=None,
            channel="review",
            first_response_minutes=30,
            resolution_minutes=240,
            calendar={"opens": "08:00", "closes": "20:00"},
        )
        # Refused: a target of zero minutes, a calendar in an unknown time zone.
        for first, calendar in ((0, None), (10, {"timezone": "Mars/Base"})):
            with pytest.raises(InvalidInput):
                set_policy(
                    session,
                    brand_id=shop.brand_id,
                    name="ruim",
                    priority="high",
                    case_type=None,
                    channel=None,
                    first_response_minutes=first,
                    resolution_minutes=10,
                    calendar=calendar,
                )
    email = _open(engine, shop.customers[0], brand_id=shop.brand_id, priority="high")
    review = _open(
        engine, shop.customers[1], brand_id=shop.brand_id, priority="high", channel="review"
    )
    with unit_of_work(engine, write=False) as session:
        by_email = get_case(session, brand_id=shop.brand_id, case_id=email)
        by_review = get_case(session, brand_id=shop.brand_id, case_id=review)
        # 10:00 + 120 = 12:00; 10:00 + 600 on a 540-minute day: 480 Wed + 120 Thu = 11:00.
        assert (by_email.first_response_due_at, by_email.resolution_due_at) == (
            local(17, 12),
            local(18, 11),
        )
        # 08:00-20:00 calendar: 10:00 + 30 = 10:30; + 240 = 14:00.
        assert (by_review.first_response_due_at, by_review.resolution_due_at) == (
            local(17, 10, 30),
            local(17, 14),
        )


def test_queue_warnings_and_sla_met_per_team_and_agent(engine: Engine) -> None:
    shop = make_shop(engine)
    brand = shop.brand_id
    # All opened Wed 10:00. urgent: first response 60 -> 11:00, resolution 480 -> 18:00.
    # normal: 480 -> 18:00 and 2,700 -> Wed 24 10:00. low: 1,080 -> 480 Wed + 540 Thu +
    # 60 -> Fri 19 10:00, and 5,400 -> ten business days -> Tue 30 10:00.
    urgent = _open(engine, shop.customers[0], brand_id=brand, priority="urgent", team="a")
    normal = _open(engine, shop.customers[1], brand_id=brand, priority="normal", team="b")
    low = _open(engine, shop.customers[1], brand_id=brand, priority="low", team="b")
    with unit_of_work(engine, write=False) as session:
        total, rows = list_cases(session, brand_id=brand, where=CaseFilter(), now=local(17, 10, 15))
        warned = about_to_breach(session, brand_id=brand, now=local(17, 10, 15))
    assert total == 3
    assert [r.id for r in rows] == [urgent, normal, low]  # nearest resolution deadline first
    assert [r.id for r in warned] == [urgent]  # its first response is due in 45 minutes
    assert warned[0].first_response.minutes_left == 45
    with unit_of_work(engine) as session:
        for case_id, owner, at in (
            (urgent, "ana", local(17, 11, 30)),  # late
            (normal, "bia", local(17, 12)),  # in time
        ):
            case = get_case(session, brand_id=brand, case_id=case_id)
            reply(session, case=case, author=owner, body="Olá", links=LINKS, now=at)
            assign(session, case=case, owner=owner, team=None, now=at)
        assign(
            session,
            case=get_case(session, brand_id=brand, case_id=low),
            owner="bia",
            team=None,
            now=local(17, 12),
        )
    # Tue 30 June 09:00: every first-response clock has ended (the low case's failed on
    # Friday); the urgent and normal resolutions failed; the low one is still due.
    now = local(30, 9)
    with unit_of_work(engine, write=False) as session:
        teams = sla_met(session, brand_id=brand, by="team", now=now)
        agents = sla_met(session, brand_id=brand, by="owner", now=now)
    by_team = {
        m.group: (
            m.first_response_met,
            m.first_response_ended,
            m.resolution_met,
            m.resolution_ended,
        )
        for m in teams
    }
    assert by_team == {"a": (0, 1, 0, 1), "b": (1, 2, 0, 1)}
    assert {m.group: m.first_response_rate for m in agents} == {"ana": 0.0, "bia": 0.5}
