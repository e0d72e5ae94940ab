"""On real Olist data: NPS proxy, CSAT and on-time vs late against pandas on the raw CSVs.

The expected numbers are computed here from the raw files, following docs/voice-of-customer.md:
5 stars promoter, 4 passive, 1-3 detractor; CSAT = share of 4-5 stars; NPS interval
± z·100·√((p_P + p_D − (p_P − p_D)²)/n); Wilson interval for CSAT; an order is on time when
its delivery *day* is on or before the estimated day (Olist writes São Paulo local times,
so the days are read straight from the file).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from voctest import ImportedOlist

from recompra.db import unit_of_work
from recompra.voc.data import load_reviews
from recompra.voc.flows import comments, delivery_report, nps_report, topics_report
from recompra.voc.scores import StarMapping
from recompra.voc.sentiment import evaluate, lexicon_compound
from recompra.voc.service import brand_sentiment
from recompra.voc.text import fold

pytestmark = pytest.mark.slow

Z95 = 1.959963984540054


def _raw(olist_dir: Path) -> pd.DataFrame:
    reviews = pd.read_csv(olist_dir / "olist_order_reviews_dataset_partial_10k.csv.gz")
    orders = pd.read_csv(olist_dir / "olist_orders_dataset.csv.gz")
    merged = reviews.merge(orders, on="order_id", how="left", validate="many_to_one")
    delivered = pd.to_datetime(merged.order_delivered_customer_date).dt.normalize()
    estimated = pd.to_datetime(merged.order_estimated_delivery_date).dt.normalize()
    return merged.assign(
        on_time=delivered.notna() & (delivered <= estimated),
        late=delivered.notna() & (delivered > estimated),
        month=merged.review_creation_date.str[:7],
    )


def _expected_nps(stars: pd.Series) -> tuple[float, float, float, int]:
    n = len(stars)
    p_p, p_d = (stars == 5).mean(), (stars <= 3).mean()
    half = Z95 * 100 * math.sqrt((p_p + p_d - (p_p - p_d) ** 2) / n)
    score = 100 * (p_p - p_d)
    # The interval is clipped to the scale's range (-100..100), as documented.
    return score, max(-100.0, score - half), min(100.0, score + half), n


def _check(group, stars: pd.Series) -> None:  # type: ignore[no-untyped-def]
    score, low, high, n = _expected_nps(stars)
    assert group.nps.n == n
    assert group.nps.score == pytest.approx(score, abs=1e-9)
    assert group.nps.ci_low == pytest.approx(low, abs=1e-9)
    assert group.nps.ci_high == pytest.approx(high, abs=1e-9)
    assert group.nps.proxy is True
    assert group.csat.share == pytest.approx((stars >= 4).mean(), abs=1e-12)


@pytest.fixture(scope="module")
def data(olist_hub: ImportedOlist):  # type: ignore[no-untyped-def]
    with unit_of_work(olist_hub.engine, write=False) as session:
        return load_reviews(session, brand_id=olist_hub.brand_id)


def test_nps_proxy_and_csat_equal_pandas_on_the_raw_files(data, olist_dir: Path) -> None:  # type: ignore[no-untyped-def]
    raw = _raw(olist_dir)
    report = nps_report(data, StarMapping())
    assert report.overall.nps.n == 10_001  # the partial review file's rows
    _check(report.overall, raw.review_score)
    # Wilson interval of CSAT, written out.
    n, p = len(raw), (raw.review_score >= 4).mean()
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2))
    assert report.overall.csat.ci_low == pytest.approx(centre - half)
    assert report.overall.csat.ci_high == pytest.approx(centre + half)


def test_nps_by_month_equals_pandas(data, olist_dir: Path) -> None:  # type: ignore[no-untyped-def]
    raw = _raw(olist_dir)
    report = nps_report(data, StarMapping(), by="month")
    assert [g.key for g in report.groups] == sorted(raw.month.unique())
    for group in report.groups:
        _check(group, raw.review_score[raw.month == group.key])


def test_on_time_vs_late_equals_pandas(data, olist_dir: Path) -> None:  # type: ignore[no-untyped-def]
    raw = _raw(olist_dir)
    report = delivery_report(data, StarMapping())
    on_time, late = report.status("on_time"), report.status("late")
    assert on_time is not None
    assert late is not None
    _check(on_time, raw.review_score[raw.on_time])
    _check(late, raw.review_score[raw.late])
    not_delivered = report.status("not_delivered")
    assert not_delivered is not None
    assert not_delivered.nps.n == int(raw.order_delivered_customer_date.isna().sum())
    assert report.on_time_vs_late is not None
    assert report.on_time_vs_late.significant
    assert on_time.nps.score is not None
    assert late.nps.score is not None
    assert on_time.nps.score > late.nps.score


def test_by_state_counts_each_review_once(data) -> None:  # type: ignore[no-untyped-def]
    report = delivery_report(data, StarMapping())
    timed = sum(s.nps.n for s in report.statuses if s.key in ("on_time", "late"))
    assert sum(row.reviews for row in report.by_state) == timed
    assert all(row.reviews >= 30 for row in report.by_seller)


def test_topics_cover_most_negative_comments(data, olist_dir: Path) -> None:  # type: ignore[no-untyped-def]
    raw = _raw(olist_dir)
    report = topics_report(data)
    texts = raw.review_comment_message.fillna("").str.strip()
    negative = raw[(texts != "") & (raw.review_score <= 2)]
    # Comments that are only punctuation or emoji normalise to nothing and are not counted.
    assert report.negative_comments <= len(negative)
    assert report.negative_comments >= 0.99 * len(negative)
    assert report.coverage is not None
    assert report.coverage > 0.75


def test_sentiment_aucs_offline(olist_hub: ImportedOlist, no_network: None) -> None:
    with unit_of_work(olist_hub.engine, write=False) as session:
        result = brand_sentiment(session, brand_id=olist_hub.brand_id)
    assert result.labelled > 3000
    assert result.negative > 1000
    assert result.lexicon_auc is not None
    assert result.supervised_auc is not None
    assert result.lexicon_auc > 0.75
    assert result.supervised_auc > 0.9
    assert result.supervised_auc > result.lexicon_auc


def test_repairing_lost_accents_helps_the_lexicon(data) -> None:  # type: ignore[no-untyped-def]
    found = comments(data)
    stars = [int(s) for s in found.score]
    repaired = evaluate(found.text.tolist(), stars)
    raw = data.reviews[data.reviews.comment.notna()]
    folded = [fold(str(c)) for c in raw.comment]
    labels = np.array([1 if s <= 2 else 0 for s in raw.score])
    keep = (raw.score != 3).to_numpy()
    unrepaired = roc_auc_score(labels[keep], -lexicon_compound(np.array(folded)[keep].tolist()))
    assert repaired.lexicon_auc is not None
    assert repaired.lexicon_auc > unrepaired + 0.03
