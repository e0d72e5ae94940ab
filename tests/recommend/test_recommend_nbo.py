"""Next-best-offer: exclusions, learned repeat purchase, cold start, policy, explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _recommend_fixtures import snapshot_tables

from recompra.analytics import SegmentKey, segment_of
from recompra.recommend.base import NotFittedError
from recompra.recommend.explain import explain
from recompra.recommend.item_cooccurrence import ItemCooccurrence
from recompra.recommend.nbo_model import NextBestOffer
from recompra.recommend.next_best_offer import (
    evidence_of,
    frequently_bought_together,
    next_best_offers,
)
from recompra.recommend.policy import DEFAULT_POLICY, policy_for
from recompra.recommend.popularity import Popularity
from recompra.recommend.purchases import purchase_lines
from recompra.recommend.repeat import rebuy_table

COFFEE, FILTER = 11, 12  # category 1: consumables, re-bought
KETTLE, MUG, TRAY = 21, 22, 23  # category 2: durable goods
PRICE = {COFFEE: 3000, FILTER: 1000, KETTLE: 20000, MUG: 4000, TRAY: 90000}
CATEGORY = {COFFEE: 1, FILTER: 1, KETTLE: 2, MUG: 2, TRAY: 2}


def _store() -> pd.DataFrame:
    """Twelve coffee drinkers re-buy coffee every order and buy a kettle once.

    Customers 1-12: orders on days d, d+30, d+60 holding COFFEE; the first order also a
    KETTLE and (for the even ones) a MUG. Customers 13-14 buy one TRAY.
    Customer 99 (the one we recommend to) bought COFFEE twice and a KETTLE once.
    """
    orders, lines = [], []
    oid = 0

    def order(customer: int, day: int, items: list[int]) -> None:
        nonlocal oid
        oid += 1
        orders.append((oid, customer, "delivered", day))
        lines.extend((oid, p, CATEGORY[p], PRICE[p]) for p in items)

    for c in range(1, 13):
        order(c, c, [COFFEE, KETTLE] + ([MUG] if c % 2 == 0 else []))
        order(c, c + 30, [COFFEE, FILTER] if c % 3 == 0 else [COFFEE])
        order(c, c + 60, [COFFEE])
    order(13, 5, [TRAY])
    order(14, 6, [TRAY])
    order(99, 10, [COFFEE, KETTLE])
    order(99, 40, [COFFEE])
    return purchase_lines(snapshot_tables(orders, lines))


def test_rebuy_rates_learned_per_product() -> None:
    table = rebuy_table(_store(), "product", prior=2.0).set_index("item_id")
    # Eligible (two or more orders): customers 1-12 and 99. Coffee: 13 buyers, all re-buy;
    # kettle: 13, none; mug: 6 (even customers), none; filter: 4 (3, 6, 9, 12), none.
    # The trays' buyers have one order each. Store rate: 13 re-bought pairs of 36.
    store = 13 / 36
    assert table.loc[COFFEE, "rebuy_rate"] == pytest.approx((13 + 2 * store) / (13 + 2))
    assert table.loc[KETTLE, "rebuy_rate"] == pytest.approx((0 + 2 * store) / (13 + 2))
    assert table.loc[MUG, "eligible_buyers"] == 6
    assert TRAY not in table.index
    # Coffee every 30 days by every re-buyer.
    assert table.loc[COFFEE, "gap_days"] == pytest.approx(30.0)


def test_nbo_excludes_bought_non_repeat_items_but_offers_restock() -> None:
    model = NextBestOffer("product").fit(_store())
    offers = model.top_k(np.array([99]), k=5)[0]
    offered = set(offers[offers >= 0].tolist())
    assert KETTLE not in offered  # bought before, never re-bought
    assert COFFEE in offered  # bought before, and re-bought by its buyers
    assert offered == {COFFEE, FILTER, MUG, TRAY}
    # Co-occurrence with the history (MUG with the kettle, FILTER with the coffee) ranks
    # above the unrelated TRAY.
    assert offers.tolist().index(TRAY) > offers.tolist().index(MUG)
    everything = model.top_k(np.array([99]), k=5, exclude="all")[0]
    assert COFFEE not in everything
    assert KETTLE not in everything


def test_cold_start_is_popularity() -> None:
    lines = _store()
    nbo = NextBestOffer("product").fit(lines)
    pop = Popularity("product").fit(lines)
    unknown = np.array([123456])
    assert nbo.top_k(unknown, 3).tolist() == pop.top_k(unknown, 3).tolist()
    # Coffee (13 buyers) then kettle (13) tie-broken by id, then mug (6).
    assert pop.top_k(unknown, 3)[0].tolist() == [COFFEE, KETTLE, MUG]


def test_baselines_and_fit_guard() -> None:
    with pytest.raises(NotFittedError):
        NextBestOffer().top_k(np.array([1]), 3)
    cooc = ItemCooccurrence("product").fit(_store())
    first = cooc.top_k(np.array([99]), 2, exclude="all")[0].tolist()
    assert first[0] in (MUG, FILTER)
    assert KETTLE not in first
    assert COFFEE not in first
    # As an "all items" baseline nothing is excluded: coffee co-occurs with the kettle.
    assert COFFEE in cooc.top_k(np.array([99]), 2)[0].tolist()


def test_offers_are_explained_and_match_the_dense_ranking() -> None:
    lines = _store()
    model = NextBestOffer("product").fit(lines)
    customers = np.array([99, 1, 13, 123456])
    offers = next_best_offers(model, customers, k=4)
    assert set(offers["customer_id"]) == set(customers.tolist())
    assert offers["reason"].notna().all()
    for row in offers.to_dict("records"):
        evidence = evidence_of(row)
        assert explain(evidence, "en")
        assert explain(evidence, "pt-BR")
    mine = offers.loc[offers["customer_id"] == 99].set_index("item_id")
    assert mine.loc[COFFEE, "reason"] == "repurchase"
    assert mine.loc[COFFEE, "evidence_count"] == 2
    assert mine.loc[MUG, "reason"] in ("bought_together", "bought_later")
    assert mine.loc[MUG, "anchor_id"] == KETTLE
    cold = offers.loc[offers["customer_id"] == 123456]
    assert set(cold["reason"]) == {"popular"}
    dense = model.top_k(customers, 4)
    for cid, row in zip(customers.tolist(), dense, strict=True):
        sparse = offers.loc[offers["customer_id"] == cid].sort_values("rank")
        assert set(sparse["item_id"]) == set(row[row >= 0].tolist())


def test_segment_policy() -> None:
    model = NextBestOffer("product").fit(_store())
    segments = pd.DataFrame(
        {"customer_id": [99, 13], "segment": [SegmentKey.CHAMPIONS, SegmentKey.AT_RISK]}
    )
    offers = next_best_offers(model, np.array([99, 13]), k=5, segments=segments)
    champion = offers.loc[offers["customer_id"] == 99]
    assert set(champion["incentive"]) == {"none"}  # never discount-led for champions
    assert TRAY in set(champion["item_id"])  # no price ceiling for champions
    at_risk = offers.loc[offers["customer_id"] == 13]
    assert set(at_risk["incentive"]) == {"discount"}
    # At-risk ceiling 1.2x their usual price (900.00): everything cheaper is allowed.
    assert set(at_risk["item_id"]) <= {COFFEE, FILTER, KETTLE, MUG}
    # A price ceiling binds: at-risk customer 99 (usual price 30.00) gets nothing above 36.00.
    capped = next_best_offers(
        model,
        np.array([99]),
        k=5,
        segments=pd.DataFrame({"customer_id": [99], "segment": [SegmentKey.AT_RISK]}),
    )
    assert set(capped["item_id"]) <= {COFFEE, FILTER}
    assert capped.iloc[0]["item_id"] == COFFEE  # win-back: restock first


#: The policy groups of docs/recommend.md, written out here rather than read from the table.
FULL_PRICE = {SegmentKey.CHAMPIONS, SegmentKey.LOYAL}
WIN_BACK = {
    SegmentKey.AT_RISK,
    SegmentKey.CANT_LOSE_THEM,
    SegmentKey.HIBERNATING,
    SegmentKey.LOST,
}
SECOND_PURCHASE = {SegmentKey.NEW_CUSTOMERS, SegmentKey.PROMISING}


@pytest.mark.parametrize("segment", list(SegmentKey))
def test_each_segment_the_analytics_emit_gets_its_own_policy(segment: SegmentKey) -> None:
    # Looked up by the plain string stored with the scores, as next_best_offers does.
    policy = policy_for(str(segment.value))
    assert policy is not DEFAULT_POLICY, segment
    if segment in FULL_PRICE:
        assert policy.incentive in {"none", "loyalty_points"}
        assert policy.price_ceiling is None
    if segment in WIN_BACK:
        assert policy.repurchase_first
    if segment in SECOND_PURCHASE:
        assert policy.incentive == "free_shipping"


def test_cant_lose_them_is_won_back_with_points_not_discounts() -> None:
    # R<=2, F>=4, M>=4: former best customers (the segment the policy used to misspell).
    segment = segment_of(1, 5, 5)
    assert segment is SegmentKey.CANT_LOSE_THEM
    policy = policy_for(segment)
    assert (policy.incentive, policy.repurchase_first, policy.price_ceiling) == (
        "loyalty_points",
        True,
        None,
    )


def test_high_clv_overrides_discount() -> None:
    model = NextBestOffer("product").fit(_store())
    segments = pd.DataFrame(
        {
            "customer_id": [99, 13, 14],
            "segment": [SegmentKey.AT_RISK] * 3,
            "clv": [900.0, 10.0, 20.0],
        }
    )
    offers = next_best_offers(model, np.array([99, 13]), k=3, segments=segments)
    assert set(offers.loc[offers["customer_id"] == 99, "incentive"]) == {"loyalty_points"}
    assert set(offers.loc[offers["customer_id"] == 13, "incentive"]) == {"discount"}


def test_frequently_bought_together() -> None:
    rules = pd.DataFrame(
        {
            "antecedent": [1, 1, 1, 2],
            "consequent": [2, 3, 4, 1],
            "n_ab": [10, 1, 5, 10],
            "lift": [3.0, 9.0, 0.8, 3.0],
            "cosine": [0.5, 0.2, 0.4, 0.5],
        }
    )
    suggestions = frequently_bought_together(rules, 1, k=5, min_count=2)
    # 3 is below min_count, 4 below lift 1 (less often than by chance).
    assert [s.item_id for s in suggestions] == [2]
    assert suggestions[0].explanation("en") == (
        "bought together in 10 orders, 3.0x more often than by chance"
    )
