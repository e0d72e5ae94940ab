"""The learning-to-rank candidate: honest (cross-fitted) validation, features, serving."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from _recommend_fixtures import snapshot_tables
from threadpoolctl import threadpool_limits

from recompra.recommend.backtest import LIST_KINDS
from recompra.recommend.blend import customer_halves
from recompra.recommend.purchases import purchase_lines
from recompra.recommend.ranker import (
    FEATURES,
    NEVER_BOUGHT_DUE,
    CandidatePairs,
    cross_fitted_ranker_hits,
    new_classifier,
)
from recompra.recommend.rule import RANKER, ListChoice
from recompra.recommend.selection import (
    MEMBERS,
    ServingPlan,
    candidates,
    learned_ranker,
)
from recompra.recommend.served import ServedRecommender

CUSTOMERS = 400
PAIRS_EACH = 20


def _pairs(seed: int) -> tuple[CandidatePairs, np.ndarray]:
    """Random pairs: 400 customers x 20 candidates, 3 features, about 1 in 10 relevant."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(CUSTOMERS), PAIRS_EACH)
    positions = np.tile(np.arange(PAIRS_EACH), CUSTOMERS)
    features = rng.normal(size=(len(rows), 3))
    labels = rng.random(len(rows)) < 0.1
    return CandidatePairs(rows, positions, features), labels


def test_each_half_is_ranked_by_the_model_fitted_on_the_other_half() -> None:
    pairs, labels = _pairs(seed=3)
    labels |= pairs.features[:, 0] > 1.0  # some signal to learn
    k = 3
    hits = cross_fitted_ranker_hits(pairs, labels, customer_halves(np.arange(CUSTOMERS)), k)
    # By hand: fit on odd customers, rank even ones (and vice versa), top k per customer.
    expected = np.zeros((CUSTOMERS, k), dtype=bool)
    for scored_parity in (0, 1):
        learned = pairs.rows % 2 != scored_parity
        with threadpool_limits(limits=1, user_api="openmp"):  # as the ranker fits
            model = new_classifier().fit(pairs.features[learned], labels[learned])
        frame = pd.DataFrame(
            {
                "row": pairs.rows[~learned],
                "score": model.predict_proba(pairs.features[~learned])[:, 1],
                "label": labels[~learned],
            }
        )
        frame = frame.sort_values(["row", "score"], ascending=[True, False], kind="stable")
        for row, group in frame.groupby("row"):
            top = group["label"].to_numpy()[:k]
            expected[int(str(row)), : len(top)] = top
    assert (hits == expected).all()


def test_a_pattern_seen_only_in_the_scored_half_does_not_help_it() -> None:
    # Even customers buy exactly their pairs with feature 0 > 0; odd customers buy at
    # random. A model fitted on the even customers themselves would rank their buys first
    # (hit-rate@1 near 1); cross-fitted, the even half is ranked by the odd half's model,
    # which learned nothing, so its hit-rate@1 stays near the share of bought pairs (1/2).
    pairs, labels = _pairs(seed=5)
    even = pairs.rows % 2 == 0
    labels = np.where(even, pairs.features[:, 0] > 0, labels)
    hits = cross_fitted_ranker_hits(pairs, labels, customer_halves(np.arange(CUSTOMERS)), k=1)
    even_hit_rate = hits[::2, 0].mean()
    assert even_hit_rate < 0.7
    in_sample = new_classifier().fit(pairs.features[even], labels[even])
    scores = in_sample.predict_proba(pairs.features[even])[:, 1].reshape(-1, PAIRS_EACH)
    best = scores.argmax(axis=1)
    in_sample_hit_rate = labels[even].reshape(-1, PAIRS_EACH)[np.arange(len(best)), best].mean()
    assert in_sample_hit_rate > 0.95


def _two_customer_lines() -> pd.DataFrame:
    """Customer 1 buys product 1 (category 10) on days 0, 10, 20; product 3 (20) on day 25.

    Customer 2 buys product 2 (category 10) on day 5 and product 4 (30) on day 30, the end.
    """
    orders = [(1, 1, "delivered", 0), (2, 1, "delivered", 10), (3, 1, "delivered", 20)]
    orders += [(4, 1, "delivered", 25), (5, 2, "delivered", 5), (6, 2, "delivered", 30)]
    lines = [(1, 1, 10, 500), (2, 1, 10, 500), (3, 1, 10, 500), (4, 3, 20, 900)]
    lines += [(5, 2, 10, 700), (6, 4, 30, 300)]
    return purchase_lines(snapshot_tables(orders, lines))


def test_pair_features_match_a_count_by_hand() -> None:
    lines = _two_customer_lines()
    factories = candidates("product")
    fitted = {name: factories[name]().fit(lines) for name in MEMBERS["any"]}
    ranker = learned_ranker(fitted, "any").fit(lines)
    ids = ranker.index_.ids
    # Customer 1 is offered product 1 by own history (rank 1) and product 2 by popularity.
    ranked = {name: np.full((1, 2), -1) for name in MEMBERS["any"]}
    ranked["own_history"][0, 0] = ranker.index_.positions(np.array([1]))[0]
    ranked["popularity"][0, 0] = ranker.index_.positions(np.array([2]))[0]
    pairs = ranker.pairs(np.array([1]), ranked)
    by_item = {
        int(ids[p]): dict(zip(FEATURES, row[len(MEMBERS["any"]) :], strict=True))
        for p, row in zip(pairs.positions, pairs.features, strict=True)
    }
    assert set(by_item) == {1, 2}
    own, other = by_item[1], by_item[2]
    assert own["own_count"] == 3
    assert other["own_count"] == 0
    # Product 1: last bought day 20, the history ends day 30 (10 days), own gap 10 days.
    assert own["due_log_ratio"] == np.log((10 + 1) / (10 + 1))
    assert other["due_log_ratio"] == NEVER_BOUGHT_DUE
    # Product 2 is in category 10, which customer 1 bought in.
    assert own["category_match"] == 1.0
    assert other["category_match"] == 1.0
    assert own["log_buyers"] == np.log1p(1)
    assert own["members_listing"] == 1
    # Recent = the last quarter of days 0..30 (from day 22.5): only customer 2's order.
    assert own["recent_share"] == 0.0


def test_a_served_ranker_lists_offers_and_leaves_the_manifest_json() -> None:
    lines = _two_customer_lines()
    factories = candidates("product")
    fitted = {name: factories[name]().fit(lines) for name in MEMBERS["any"]}
    ranker = learned_ranker(fitted, "any").fit(lines)
    customers = np.array([1, 2])
    pairs = ranker.pairs(customers, ranker.member_lists(customers))
    labels = np.isin(ranker.index_.ids[pairs.positions], [1])
    classifier = new_classifier().set_params(min_samples_leaf=1).fit(pairs.features, labels)
    choices = {kind: ListChoice(kind, "popularity", {}, 0, {}, "test") for kind in LIST_KINDS}
    choices["any"] = ListChoice("any", RANKER, {}, 2, {}, "test", ranker=classifier)
    plan = ServingPlan("product", 3, 100.0, (), choices)
    served = ServedRecommender(plan, just_bought=None).fit(lines)
    top = served.top_k(customers, 3, "any")
    assert top[0, 0] == 1  # the classifier learned that product 1 is the one bought
    manifest = json.loads(json.dumps(plan.to_dict()))
    assert manifest["choices"]["any"]["method"] == RANKER
    assert "ranker" not in manifest["choices"]["any"]
