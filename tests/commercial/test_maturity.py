"""Maturity: evidence gates cap the questionnaire; Olist's pipeline stays at level 2."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from recompra.commercial.deals import move_stage, open_opportunity
from recompra.commercial.maturity import DimensionResult, assess, claimed_level, save_answers
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.rejects import ImportReport

AT = datetime(2026, 1, 5, tzinfo=UTC)


def _pipeline(engine: Engine, brand_id: int) -> DimensionResult:
    with unit_of_work(engine) as session:
        return next(r for r in assess(session, brand_id=brand_id) if r.key == "pipeline_forecast")


def test_claimed_level_counts_consecutive_yes() -> None:
    assert claimed_level([]) == 1
    assert claimed_level([True, True, False, True]) == 3
    assert claimed_level([True] * 4) == 5


def test_olist_pipeline_is_capped_at_level_2_with_the_reason(
    funnel_db: tuple[Engine, int, ImportReport],
) -> None:
    engine, brand_id, _ = funnel_db
    with unit_of_work(engine) as session:
        save_answers(
            session,
            brand_id=brand_id,
            answers={"pipeline_forecast": [True, True, True, True]},
        )
    result = _pipeline(engine, brand_id)
    assert result.claimed == 5
    assert result.evidence_level == 2
    assert result.level == 2
    assert "stage history" in (result.blocker_en or "")
    assert "histórico de etapas" in (result.blocker_pt or "")


def test_self_assessment_caps_the_evidence(funnel_db: tuple[Engine, int, ImportReport]) -> None:
    engine, brand_id, _ = funnel_db
    with unit_of_work(engine) as session:
        save_answers(session, brand_id=brand_id, answers={"pipeline_forecast": [False]})
    assert _pipeline(engine, brand_id).level == 1


def test_stage_history_and_lost_reasons_reach_level_3(
    funnel_db: tuple[Engine, int, ImportReport],
) -> None:
    engine, _, _ = funnel_db
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "managed").id
        for n in range(4):
            opp = open_opportunity(session, brand_id=brand_id, external_id=f"o{n}", at=AT)
        move_stage(
            session,
            brand_id=brand_id,
            opportunity_id=opp.id,
            stage_key="lost",
            at=AT,
            lost_reason="no budget",
        )
    result = _pipeline(engine, brand_id)
    assert result.evidence_level == 3
    assert result.claimed is None
    assert result.level == 3
    assert "back-tests" in (result.blocker_en or "")
