"""The scheduled lead-score refit and the ``lead_score`` segment field, on a hand-made
funnel (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dbtest import BACKENDS, create_test_engine, postgres_url
from recompra.commercial.deals import ensure_stages
from recompra.commercial.leadscore import MODELS
from recompra.commercial.refit import LeadScoreRefit, RefitSettings
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.models import Brand, BrandCustomer, Customer, Lead, LeadScoreFit, Opportunity
from recompra.segments.compile import compile_rule
from recompra.segments.definition import parse_rule

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
#: Channel -> (leads, converted): one feature that separates converters from the rest.
CHANNELS = {"partner": (100, 60), "display": (100, 5)}
JOB = LeadScoreRefit.from_settings(
    RefitSettings(lead_score_refit_days=7, lead_score_refit_leads=50)
)


@pytest.fixture(params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    yield from create_test_engine(request.param, tmp_path_factory.mktemp("refit"))


def _add_leads(
    session: Session, brand_id: int, channels: dict[str, tuple[int, int]], *, prefix: str
) -> list[tuple[Lead, bool]]:
    """Leads of ``channels`` (every first contact on the same day), the first ``won`` of
    each channel with a won deal."""
    won_stage = ensure_stages(session, brand_id=brand_id)["won"]
    made = []
    for channel, (leads, won) in channels.items():
        for i in range(leads):
            lead = Lead(
                brand_id=brand_id,
                source="t",
                external_id=f"{prefix}-{channel}-{i}",
                channel=channel,
                landing_page="home",
                first_contact_on=date(2026, 3, 2),
            )
            session.add(lead)
            made.append((lead, i < won))
    session.flush()
    for n, (lead, converts) in enumerate(made):
        if converts:
            session.add(
                Opportunity(
                    brand_id=brand_id,
                    source="t",
                    external_id=f"{prefix}-deal-{n}",
                    lead_id=lead.id,
                    stage_id=won_stage.id,
                    status="won",
                    closed_at=NOW - timedelta(days=30),
                )
            )
    session.flush()
    return made


def _customer(session: Session, brand_id: int) -> int:
    row = Customer()
    session.add(row)
    session.flush()
    session.add(BrandCustomer(brand_id=brand_id, customer_id=row.id, first_seen_at=NOW))
    session.flush()
    return row.id


def _fits(session: Session, brand_id: int) -> list[LeadScoreFit]:
    return list(
        session.scalars(
            select(LeadScoreFit)
            .where(LeadScoreFit.brand_id == brand_id)
            .order_by(LeadScoreFit.version)
        )
    )


def _mann_whitney_auc(channels: dict[str, tuple[int, int]]) -> float:
    """AUC of a score that orders channels by conversion, ties counting one half
    (Hanley & McNeil 1982): P(converter's score > non-converter's) + P(tie) / 2."""
    ordered = sorted(channels.values(), key=lambda c: c[1] / c[0])
    positives = sum(won for _, won in ordered)
    negatives = sum(leads - won for leads, won in ordered)
    wins = 0.0
    for i, (leads, won) in enumerate(ordered):
        below = sum(n - w for n, w in ordered[:i])
        wins += won * below + 0.5 * won * (leads - won)
    return wins / (positives * negatives)


def test_refit_fits_once_then_when_due(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "loja").id
        _add_leads(session, brand_id, CHANNELS, prefix="a")
    with unit_of_work(engine) as session:
        assert JOB(session, now=NOW) == 1
    with unit_of_work(engine) as session:
        (fit,) = _fits(session, brand_id)
        assert (fit.version, fit.leads, fit.converted) == (1, 200, 65)
        assert fit.model in MODELS
        assert fit.fitted_at == NOW
        # Out-of-fold probabilities vary a little between folds, so the AUC is near
        # (not at) the one-feature Mann-Whitney value: 0.8134.
        assert fit.auc == pytest.approx(_mann_whitney_auc(CHANNELS), abs=0.03)
        scored = session.execute(
            select(func.count(), func.min(Lead.score), func.max(Lead.score)).where(
                Lead.brand_id == brand_id, Lead.scored_at == NOW
            )
        ).one()
        assert scored[0] == 200
        assert 0.01 <= scored[1] < scored[2] <= 0.99
        # Nothing changed and a day passed: not due.
        assert JOB(session, now=NOW + timedelta(days=1)) == 0
    with unit_of_work(engine) as session:
        _add_leads(session, brand_id, {"partner": (30, 20), "display": (20, 1)}, prefix="b")
    with unit_of_work(engine) as session:
        assert JOB(session, now=NOW + timedelta(days=2)) == 1  # 50 new leads
        assert JOB(session, now=NOW + timedelta(days=8)) == 0  # 6 days after the refit
        assert JOB(session, now=NOW + timedelta(days=9)) == 1  # 7 days: too old
    with unit_of_work(engine) as session:
        fits = _fits(session, brand_id)
    assert [(f.version, f.leads) for f in fits] == [(1, 200), (2, 250), (3, 250)]


def test_refit_skips_a_funnel_without_conversions(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "sem-vendas").id
        _add_leads(session, brand_id, {"display": (40, 0)}, prefix="c")
    with unit_of_work(engine) as session:
        assert JOB(session, now=NOW) == 0
        assert _fits(session, brand_id) == []


def test_lead_score_segment_field_reads_the_leads_behind_the_deals(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "b2b").id
        other_id = ensure_brand(session, "outra").id
        made = _add_leads(session, brand_id, {"partner": (3, 3)}, prefix="d")
        made += _add_leads(session, other_id, {"partner": (1, 1)}, prefix="e")
        for (lead, _), score in zip(made, (0.8, 0.3, None, 0.9), strict=True):
            lead.score = score
        names = ("hot", "cold", "unscored", "other_brand")
        ids = {
            name: _customer(session, brand_id if name != "other_brand" else other_id)
            for name in names
        }
        ids["no_deal"] = _customer(session, brand_id)
        deals = session.scalars(select(Opportunity).order_by(Opportunity.id)).all()
        for deal, name in zip(deals, names, strict=True):
            deal.customer_id = ids[name]
    cases = [
        ({"field": "lead_score", "op": "gte", "value": 0.5}, {"hot"}),
        ({"field": "lead_score", "op": "lt", "value": 0.5}, {"cold"}),
        ({"field": "lead_score", "op": "is_null"}, {"unscored", "no_deal"}),
    ]
    labels = {v: k for k, v in ids.items()}
    with unit_of_work(engine, write=False) as session:
        for rule, expected in cases:
            query = compile_rule(parse_rule(rule, money="units"))
            found = session.execute(query.statement, query.params(brand_id=brand_id, now=NOW))
            assert {labels[i] for i in found.scalars()} == expected, rule


@pytest.fixture
def pg_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if postgres_url() is None:
        pytest.skip("needs RECOMPRA_TEST_POSTGRES_URL")
    yield from create_test_engine("postgres", tmp_path_factory.mktemp("refit-pg"))


@pytest.mark.postgres
def test_a_brand_another_worker_is_fitting_is_left_to_it(pg_engine: Engine) -> None:
    with unit_of_work(pg_engine) as session:
        brand_id = ensure_brand(session, "dois-workers").id
        _add_leads(session, brand_id, CHANNELS, prefix="w")
    # Another worker's refit holds the brand's row lock while it fits.
    with unit_of_work(pg_engine) as other:
        other.execute(select(Brand.id).where(Brand.id == brand_id).with_for_update(key_share=True))
        with unit_of_work(pg_engine) as session:
            assert JOB(session, now=NOW) == 0
    with unit_of_work(pg_engine) as session:
        assert _fits(session, brand_id) == []
        assert JOB(session, now=NOW) == 1


@pytest.mark.postgres
def test_two_workers_refitting_at_once_store_one_fit(pg_engine: Engine) -> None:
    with unit_of_work(pg_engine) as session:
        brand_id = ensure_brand(session, "corrida").id
        _add_leads(session, brand_id, CHANNELS, prefix="r")
    start = threading.Barrier(2)

    def worker() -> int:
        start.wait()
        with unit_of_work(pg_engine) as session:
            return JOB(session, now=NOW)

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [f.result() for f in [pool.submit(worker) for _ in range(2)]]
    assert sorted(done) == [0, 1]
    with unit_of_work(pg_engine) as session:
        assert [f.version for f in _fits(session, brand_id)] == [1]
