"""OKRs: progress formula, inconclusive rule, weighting, and the seed templates on Olist."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from recompra.commercial.kpis import KpiValue
from recompra.commercial.okrs import (
    TEMPLATES,
    install_templates,
    judge,
    objective_status,
    progress,
)
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.rejects import ImportReport
from recompra.models import KeyResult, Objective


def test_progress_is_clamped_both_ways() -> None:
    assert progress(15, 10, 20) == 0.5
    assert progress(25, 10, 20) == 1.0
    assert progress(5, 10, 20) == 0.0
    # A "reduce" KR: target below start.
    assert progress(8, 10, 6) == 0.5


def test_inconclusive_when_sample_small_or_interval_wide() -> None:
    assert judge(KpiValue(0.5, 10, 0.2, 0.8), 0.4, 0.6)[1] == "sample of 10 < 30"
    wide = judge(KpiValue(0.5, 100, 0.40, 0.60), 0.45, 0.55)
    assert wide[0] is None
    assert "interval" in (wide[1] or "")
    assert judge(KpiValue(0.5, 1000, 0.47, 0.53), 0.4, 0.6) == (pytest.approx(0.5), None)
    assert judge(KpiValue(None, 0, missing="no spend"), 1, 2) == (None, "no spend")


def test_seed_templates_bind_to_live_kpis_on_olist(
    funnel_db: tuple[Engine, int, ImportReport], raw_leads: pd.DataFrame
) -> None:
    engine, _, _ = funnel_db
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "demo").id
        skipped = install_templates(session, brand_id=brand_id)
        again = install_templates(session, brand_id=brand_id)
        objectives = session.scalars(select(Objective).where(Objective.brand_id == brand_id)).all()
        assert {o.key for o in objectives} == {t.key for t in TEMPLATES}
        assert again == skipped  # nothing new to add, the same KPIs still lack data
        # The funnel has no spend: the CAC key result waits instead of starting at zero.
        assert any(s.startswith("funil/cac") for s in skipped)
        funnel = next(o for o in objectives if o.key == "funil")
        status = objective_status(session, funnel)
    by_key = {k.key: k for k in status.key_results}
    conversion = by_key["conversao"]
    assert conversion.start == pytest.approx(842 / len(raw_leads))
    # ±0.7 pp of 95% interval on 8,000 leads cannot confirm a 1 pp move.
    assert conversion.inconclusive is not None
    assert conversion.progress is None
    assert by_key["ciclo"].progress == 0.0


def test_objective_progress_is_weighted(
    funnel_db: tuple[Engine, int, ImportReport], raw_leads: pd.DataFrame
) -> None:
    engine, _, _ = funnel_db
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "demo").id
        objective = Objective(brand_id=brand_id, key="weighted", title_pt="P", title_en="P")
        session.add(objective)
        session.flush()
        for key, kpi, start, target, weight in [
            ("leads", "lead_count", 4_000, 10_000, 1.0),
            ("deals", "won_deals", 800, 850, 3.0),
        ]:
            session.add(
                KeyResult(
                    objective_id=objective.id,
                    key=key,
                    title_pt=key,
                    title_en=key,
                    kpi=kpi,
                    start=start,
                    target=target,
                    weight=weight,
                )
            )
        session.flush()
        status = objective_status(session, objective)
    leads = (len(raw_leads) - 4_000) / 6_000
    deals = (842 - 800) / 50
    assert status.progress == pytest.approx((leads + 3 * deals) / 4)
