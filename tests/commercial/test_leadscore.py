"""Lead score: clipped probabilities, cross-validated AUC and lift, scores stored."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sqlalchemy import Engine, func, select

from recompra.commercial.frames import funnel_frame
from recompra.commercial.leadscore import CLIP, evaluate, score, top_decile_lift
from recompra.db import unit_of_work
from recompra.hub.rejects import ImportReport
from recompra.models import Lead
from recompra.models.base import utcnow
from recompra.reads.commercial import lead_score_report


def test_top_decile_lift_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 2)
    s = np.array([0.9, 0.1, 0.8, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2] * 2)
    # Top 2 of 20: both scored 0.9 and converted; overall rate 4/20.
    assert top_decile_lift(y, s) == pytest.approx(1.0 / 0.2)


def test_models_beat_chance_and_probabilities_are_clipped(
    funnel_db: tuple[Engine, int, ImportReport],
) -> None:
    engine, brand_id, _ = funnel_db
    with unit_of_work(engine) as session:
        frame = funnel_frame(session, brand_id=brand_id)
    for name in ("naive_bayes", "logistic_l2"):
        report = evaluate(frame, name)
        assert report.leads == 8000
        assert report.converted == 842
        assert 0.6 < report.auc < 0.9
        assert report.top_decile_lift > 1.3
    probabilities = score(frame, "logistic_l2")
    assert probabilities.min() >= CLIP
    assert probabilities.max() <= 1 - CLIP
    # In-sample AUC is at least the out-of-fold one (a sanity check on the CV plumbing).
    assert roc_auc_score(frame["won"], probabilities) >= evaluate(frame, "logistic_l2").auc


def test_report_stores_a_score_on_every_lead(
    funnel_db: tuple[Engine, int, ImportReport],
) -> None:
    engine, brand_id, _ = funnel_db
    with unit_of_work(engine) as session:
        report = lead_score_report(session, brand_id=brand_id, at=utcnow())
    assert report["scored"] == 8000
    assert report["chosen"] in {"naive_bayes", "logistic_l2"}
    with unit_of_work(engine) as session:
        missing = session.scalar(
            select(func.count()).where(Lead.brand_id == brand_id, Lead.score.is_(None))
        )
    assert missing == 0
