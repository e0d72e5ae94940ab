"""The refresh ranks the new and any lists block by block, sharing the members' scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import recompra.recommend.base as recommender_base
import recompra.recommend.served as served_module
import recompra.recommend.topk as topk
from recompra.generate import GeneratorConfig, generate_tables
from recompra.recommend.backtest import LIST_KINDS
from recompra.recommend.purchases import purchase_lines
from recompra.recommend.ranker import new_classifier
from recompra.recommend.rule import RANKER, ListChoice
from recompra.recommend.selection import MEMBERS, ServingPlan, candidates, learned_ranker
from recompra.recommend.served import ServedRecommender

BLOCK = 60


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    return purchase_lines(generate_tables(GeneratorConfig(seed=11, n_orders=2_500, n_products=120)))


def _plan(lines: pd.DataFrame) -> ServingPlan:
    """new: a blend of four members; any: the learned ranker; cold start: popularity."""
    factories = candidates("product")
    fitted = {name: factories[name]().fit(lines) for name in MEMBERS["any"]}
    ranker = learned_ranker(fitted, "any").fit(lines)
    who = ranker.customers_[:300]
    pairs = ranker.pairs(who, ranker.member_lists(who))
    # Any labels will do (the lists are compared with themselves): the popular half.
    labels = ranker.popularity_[pairs.positions] > np.median(ranker.popularity_)
    classifier = new_classifier().set_params(min_samples_leaf=5).fit(pairs.features, labels)
    weights = {"cooccurrence": 1.0, "ease": 0.5, "next_best_offer": 2.0, "popularity": 0.1}
    choices = {kind: ListChoice(kind, "popularity", {}, 0, {}, "test") for kind in LIST_KINDS}
    choices["new"] = ListChoice("new", "blend", weights, 0, {}, "test")
    choices["any"] = ListChoice("any", RANKER, {}, 0, {}, "test", ranker=classifier)
    return ServingPlan("product", 10, 100.0, (), choices)


def test_lists_ranked_together_equal_each_list_ranked_alone(
    lines: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recommender_base, "SPARSE_CHUNK", BLOCK)
    monkeypatch.setattr(served_module, "SPARSE_CHUNK", BLOCK)
    served = ServedRecommender(_plan(lines)).fit(lines)
    # Known customers and one unknown (cold start inside the new and any lists).
    who = np.concatenate([served.customers_[::2], [served.customers_.max() + 1]])
    assert len(who) > 3 * BLOCK
    scored: list[int] = []
    member = served.fitted_["cooccurrence"]
    original = member._sparse_scores

    def counting(history, customer_ids):  # type: ignore[no-untyped-def]
        scored.append(len(customer_ids))
        return original(history, customer_ids)

    monkeypatch.setattr(member, "_sparse_scores", counting)
    # Every threshold pass partitions a block's evidence once (topk._row_kth).
    partitions: list[int] = []
    row_kth = topk._row_kth

    def partition_counting(*args):  # type: ignore[no-untyped-def]
        partitions.append(1)
        return row_kth(*args)

    monkeypatch.setattr(topk, "_row_kth", partition_counting)
    alone = {kind: served.top_k(who, 15, kind) for kind in LIST_KINDS}
    alone_calls, alone_partitions = len(scored), len(partitions)
    scored.clear()
    partitions.clear()
    together = served.top_k_lists(who, 15, LIST_KINDS)
    for kind in LIST_KINDS:
        np.testing.assert_array_equal(together[kind], alone[kind])
    # Co-occurrence is a member of both the blend and the ranker: scored once per block
    # together, twice alone.
    blocks = -(-len(who) // BLOCK)
    assert alone_calls == 2 * blocks
    assert len(scored) == blocks
    # And the shared members' evidence is ranked once per block for both lists: fewer
    # threshold passes than ranking each list alone (topk.RankedEvidence).
    assert len(partitions) < alone_partitions
    assert all(model.block_memo_ is None for model in served.fitted_.values())
