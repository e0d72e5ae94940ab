"""Candidates, the learned blend, the per-store choice and the offer rules of served lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _recommend_fixtures import snapshot_tables

from recompra.recommend.backtest import (
    LIST_KINDS,
    rolling_origin_splits,
    sample_customers,
    time_split,
    validation_splits,
)
from recompra.recommend.blend import customer_halves, learn_weights
from recompra.recommend.ease import Ease
from recompra.recommend.flows import refresh
from recompra.recommend.matrices import History
from recompra.recommend.metrics import Relevant
from recompra.recommend.nbo_model import NextBestOffer
from recompra.recommend.popularity import Popularity
from recompra.recommend.purchases import never_offered, purchase_lines
from recompra.recommend.repeat import JustBoughtRule
from recompra.recommend.replenishment import OwnHistory, Replenishment
from recompra.recommend.rule import ListChoice
from recompra.recommend.selection import ServingPlan, candidates, choose_plan
from recompra.recommend.served import ServedRecommender

ONE_CATEGORY = 1
STAPLES = range(1, 11)  # product s is the staple of customers c with c % 10 == s - 1
ONE_OFFS = range(11, 21)
POSTAGE = 99


def _repeat_store(*, postage: bool = False) -> dict[str, pa.Table]:
    """One category; each of 60 customers re-buys their own staple every 20 days.

    Customer ``c`` (1..60) orders on days ``c % 20 + 20 * i`` for ``i = 0..7``, each order
    holding their staple (product ``c % 10 + 1``); the first order also holds a one-off
    (product ``11 + c % 10``). With ``postage``, every order also has a POSTAGE line.
    """
    orders, lines = [], []
    oid = 0
    for c in range(1, 61):
        for i in range(8):
            oid += 1
            orders.append((oid, c, "delivered", c % 20 + 20 * i))
            items = [c % 10 + 1] + ([11 + c % 10] if i == 0 else [])
            items += [POSTAGE] if postage else []
            lines.extend((oid, p, ONE_CATEGORY, 1000 * p) for p in items)
    return snapshot_tables(orders, lines)


def test_one_category_store_re_offers_what_its_customers_re_buy() -> None:
    # The old rule (category repeat rate >= 1.5x the store median) could never fire with
    # one category; the learned per-product rate does: every staple buyer re-buys it.
    lines = purchase_lines(_repeat_store())
    nbo = NextBestOffer("product").fit(lines)
    staples = nbo.index_.positions(np.array(list(STAPLES)))
    one_offs = nbo.index_.positions(np.array(list(ONE_OFFS)))
    assert nbo.repeatable_[staples].all()
    assert not nbo.repeatable_[one_offs].any()
    customers = np.arange(1, 61)
    staple_of = customers % 10 + 1
    for model in (nbo, Replenishment("product").fit(lines), OwnHistory("product").fit(lines)):
        top = model.top_k(customers, 3)
        assert all(s in row for s, row in zip(staple_of, top.tolist(), strict=True)), model
    # The one-off is never re-offered by next-best-offer.
    top = nbo.top_k(customers, 3).tolist()
    assert not any(11 + c % 10 in row for c, row in zip(customers, top, strict=True))


def test_served_any_list_restocks_on_a_repeat_store() -> None:
    lines = purchase_lines(_repeat_store())
    plan = choose_plan(lines, level="product", k=3)
    # Every validation customer re-buys their staple: the winner finds (nearly) all.
    any_list = plan.choices["any"]
    assert any_list.validation[any_list.method]["hit_rate"] >= 0.95
    served = ServedRecommender(plan, just_bought=None).fit(lines)
    customers = np.arange(1, 61)
    top = served.top_k(customers, 3, "any")
    assert all(c % 10 + 1 in row for c, row in zip(customers, top.tolist(), strict=True))
    # Every staple is re-bought every 20 days, so its just-bought window is 20 days: at
    # the end (day 159) nobody's staple is due yet (last orders on days 140..159).
    ruled = ServedRecommender(plan).fit(lines).top_k(customers, 3, "any")
    assert not any(c % 10 + 1 in row for c, row in zip(customers, ruled.tolist(), strict=True))


def _gap_store() -> pd.DataFrame:
    """Six customers re-buy product 1 every 2 days and product 2 every 30 days.

    Both were last bought 5 days before the end of the history (day 200, set by customer
    7's order of product 3); product 3 has no re-purchase of its own.
    """
    orders, lines = [], []
    oid = 0
    for c in range(1, 7):
        for product, gap in ((1, 2), (2, 30)):
            for i in range(4):
                oid += 1
                orders.append((oid, c, "delivered", 195 - gap * i))
                lines.append((oid, product, ONE_CATEGORY, 1000))
    orders.append((oid + 1, 7, "delivered", 200))
    lines.append((oid + 1, 3, ONE_CATEGORY, 1000))
    return purchase_lines(snapshot_tables(orders, lines))


def _own_history_plan() -> ServingPlan:
    choices = {kind: ListChoice(kind, "own_history", {}, 0, {}, "test") for kind in LIST_KINDS}
    return ServingPlan(level="product", k=3, ease_l2=100.0, validation_cutoffs=(), choices=choices)


def test_just_bought_window_comes_from_each_products_own_gaps() -> None:
    lines = _gap_store()
    rule = JustBoughtRule(quantile=0.1, min_gaps=5, floor_days=1.0)
    own, store = rule.windows(lines, "product")
    # 18 gaps each (6 customers x 3); the store pools all 36.
    assert own.to_dict() == {1: pytest.approx(2.0), 2: pytest.approx(30.0)}
    assert store == pytest.approx(float(np.quantile([2.0] * 18 + [30.0] * 18, 0.1)))
    assert rule.window_days(lines, "product", np.array([3])).tolist() == [pytest.approx(store)]
    served = ServedRecommender(_own_history_plan(), just_bought=rule).fit(lines)
    top = served.top_k(np.arange(1, 7), 3, "any").tolist()
    # 5 days after the last purchase: past product 1's 2-day window, inside product 2's.
    assert all(1 in row and 2 not in row for row in top), top
    unruled = ServedRecommender(_own_history_plan(), just_bought=None).fit(lines)
    assert all({1, 2} <= set(row) for row in unruled.top_k(np.arange(1, 7), 3, "any").tolist())
    # Re-bought the same day: the window never falls below the floor.
    same_day = JustBoughtRule(quantile=0.0, min_gaps=1, floor_days=1.0)
    first = lines.head(1)
    later = first.assign(order_id=-1, purchased_at=first["purchased_at"] + pd.Timedelta(hours=3))
    twice = pd.concat([first, later])
    assert same_day.windows(twice, "product")[1] == 1.0


def test_non_merchandise_is_never_offered(tmp_path: Path) -> None:
    tables = _repeat_store(postage=True)
    products = pa.table(
        {
            "product_id": [*STAPLES, *ONE_OFFS, POSTAGE],
            "brand_id": [1] * 21,
            "external_id": [f"P{p}" for p in [*STAPLES, *ONE_OFFS, POSTAGE]],
            "name": [f"Produto {p}" for p in [*STAPLES, *ONE_OFFS]] + ["POSTAGE"],
            "category_id": [ONE_CATEGORY] * 21,
            "list_price_minor": [1000 * p for p in [*STAPLES, *ONE_OFFS, POSTAGE]],
            # The flag the hub adds; the recommender reads it whenever the snapshot has it.
            "non_merchandise": [False] * 20 + [True],
        }
    )
    tables["products"] = products
    assert never_offered(tables)[0].tolist() == [POSTAGE]
    assert POSTAGE not in set(purchase_lines(tables)["product_id"])
    out = tmp_path / "reco"
    manifest = refresh(tables, out)
    assert manifest["offer_rules"]["catalogue_flags_read"] == ["non_merchandise"]
    for name, column in (
        ("next_best_offer", "item_id"),
        ("new_item_offers", "item_id"),
        ("popularity", "item_id"),
        ("product_fbt", "item_id"),
        ("upsell", "candidate"),
    ):
        offered = set(pq.read_table(out / f"{name}.parquet").column(column).to_pylist())
        assert POSTAGE not in offered, name


def test_ease_weights_solve_the_constrained_ridge_problem() -> None:
    rng = np.random.default_rng(3)
    rows = [(c, p) for c in range(40) for p in range(8) if rng.random() < 0.4]
    lines = pd.DataFrame(
        {
            "order_id": [c for c, _ in rows],
            "customer_id": [c for c, _ in rows],
            "purchased_at": pd.Timestamp("2024-01-01", tz="UTC"),
            "product_id": [p + 1 for _, p in rows],
            "category_id": 1,
            "quantity": 1,
            "unit_price_minor": 100,
        }
    )
    model = Ease("product", l2=5.0).fit(lines)
    x = np.zeros((40, 8))
    for c, p in rows:
        x[c, p] = 1.0
    gram = x.T @ x
    b = model.weights_
    # Optimality of min ||X - XB||^2 + l2 ||B||^2 s.t. diag(B) = 0: the gradient
    # (G + l2 I) B - G vanishes off the diagonal (the diagonal holds the multipliers).
    gradient = (gram + 5.0 * np.eye(8)) @ b - gram
    off_diagonal = gradient[~np.eye(8, dtype=bool)]
    assert np.abs(off_diagonal).max() < 1e-9
    assert np.diag(b).tolist() == [0.0] * 8


def test_learned_blend_keeps_the_informative_member() -> None:
    # Two members over 6 items for 4 customers; "good" ranks each customer's relevant item
    # first, "noise" never lists it. The blend must weight "good" and hit everyone.
    relevant = Relevant.build(
        np.array([1, 2, 3, 4]),
        pd.DataFrame({"customer_id": [1, 2, 3, 4], "item_id": [10, 11, 12, 13]}),
    )
    ids = np.array([10, 11, 12, 13, 14, 15])
    good = np.array([[0, 4], [1, 4], [2, 5], [3, 5]])
    noise = np.array([[4, 5], [5, 4], [4, 5], [5, 4]])
    weights, metrics = learn_weights({"good": good, "noise": noise}, relevant, ids, k=1)
    assert weights["good"] > 0
    assert weights["noise"] < weights["good"]
    assert metrics["hit_rate"] == pytest.approx(1.0)


def test_rolling_origin_windows_are_fitted_strictly_before_each_window() -> None:
    # Lines every day from day 0 to day 100: span 100 days, windows of 20 days.
    days = np.arange(101)
    lines = pd.DataFrame(
        {
            "customer_id": days % 7,
            "purchased_at": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(days, "D"),
        }
    )
    splits = rolling_origin_splits(lines, 0.2, origins=3)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    expected = [(40, 60), (60, 80), (80, 101)]  # [cutoff, end) in days, the last one closed
    assert [s.cutoff for s in splits] == [start + pd.Timedelta(days=a) for a, _ in expected]
    for split, (first, stop) in zip(splits, expected, strict=True):
        seen = (split.test["purchased_at"] - start).dt.days.tolist()
        assert seen == list(range(first, stop))
        assert split.train["purchased_at"].max() < split.cutoff
        assert len(split.train) == first
    # The latest window is the single split of time_split; too many origins are dropped.
    assert splits[-1].cutoff == time_split(lines, 0.2).cutoff
    assert len(rolling_origin_splits(lines, 0.4, origins=5)) == 2


def test_cross_fitting_keeps_every_window_of_a_customer_in_one_half() -> None:
    customers = np.array([7, 3, 9, 3, 7, 11, 9])
    first, second = customer_halves(customers)
    assert sorted([*first, *second]) == list(range(len(customers)))
    assert not set(customers[first]) & set(customers[second])
    # One sorted window: alternate rows, as before the windows were pooled.
    assert customer_halves(np.array([2, 5, 8, 9]))[0].tolist() == [0, 2]


def test_plan_pools_the_validation_windows() -> None:
    lines = purchase_lines(_repeat_store())
    plan = choose_plan(lines, level="product", k=3, validation_fraction=0.2, origins=3, rows=None)
    assert len(plan.validation_cutoffs) == 3
    # Orders span days 0..159, so the windows are 31.8 days long from day 63.6; each
    # customer orders every 20 days, so every window holds an order of each of the 60
    # customers, all returning (first orders by day 19): 3 windows x 60 rows.
    assert plan.choices["any"].customers == 180
    single = choose_plan(lines, level="product", k=3, validation_fraction=0.2, origins=1, rows=None)
    assert single.choices["any"].customers == 60


def test_older_windows_are_added_until_the_rows_or_the_history_run_out() -> None:
    lines = purchase_lines(_repeat_store())
    # 60 rows a window (above). 180 rows < 30,000 asked for: a fourth window from day
    # 31.8, fitted on days 0..31.8 (one window's length); a fifth would have none.
    plan = choose_plan(lines, level="product", k=3, validation_fraction=0.2, origins=3)
    assert len(plan.validation_cutoffs) == 4
    assert plan.choices["any"].customers == 240
    windows = validation_splits(lines, 0.2, "product", origins=3)
    assert [w.cutoff for w in windows[1:]] == [
        w.cutoff for w in rolling_origin_splits(lines, 0.2, origins=3)
    ]
    assert windows[0].train["purchased_at"].max() < windows[0].cutoff
    # Enough rows: the minimum of windows only; fewer asked: stops as soon as reached.
    assert len(validation_splits(lines, 0.2, "product", origins=3, rows=120)) == 3
    assert len(validation_splits(lines, 0.2, "product", origins=1, rows=100)) == 2
    assert len(validation_splits(lines, 0.2, "product", origins=1, rows=60)) == 1
    # Every customer sampled counts once per window: a cap of 25 needs 4 windows for 100.
    assert len(validation_splits(lines, 0.2, "product", origins=1, rows=100, cap=25)) == 4


def _splitmix64(value: int, seed: int) -> int:
    """SplitMix64's finaliser of ``value + seed * golden``, in Python integers (mod 2**64)."""
    mask = 2**64 - 1
    x = (value + seed * 0x9E3779B97F4A7C15) & mask
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
    return x ^ (x >> 31)


def test_validation_sample_keeps_the_customers_with_the_smallest_seeded_hash() -> None:
    customers = np.array([-3, *range(1, 100)], dtype=np.int64)
    pairs = pd.DataFrame({"customer_id": customers, "item_id": customers % 7 + 1})
    shuffled = np.random.default_rng(0).permutation(customers)
    for seed in (1, 20261205):
        expected = sorted(customers.tolist(), key=lambda c: _splitmix64(c % 2**64, seed))[:10]
        for order in (customers, shuffled):
            sample = sample_customers(Relevant.build(order, pairs), 10, seed)
            assert sorted(sample.customers.tolist()) == sorted(expected)
            # Each sampled customer keeps their own relevant item.
            rows, items = sample.keys // sample.stride, sample.keys % sample.stride
            assert (items == sample.customers[rows] % 7 + 1).all()
    everyone = Relevant.build(customers, pairs)
    assert sample_customers(everyone, None) is everyone
    assert sample_customers(everyone, len(customers)) is everyone


def test_plan_scores_at_most_the_cap_of_customers_per_window() -> None:
    lines = purchase_lines(_repeat_store())
    # 60 returning customers in each of the 4 windows the history allows
    # (test_older_windows_are_added_until_the_rows_or_the_history_run_out).
    plan = choose_plan(lines, level="product", k=3, validation_fraction=0.2, max_customers=25)
    assert plan.choices["any"].customers == 100
    uncapped = choose_plan(lines, level="product", k=3, validation_fraction=0.2, max_customers=60)
    assert uncapped.choices["any"].customers == 240


def test_models_fitted_on_a_shared_history_rank_as_when_fitted_alone() -> None:
    lines = purchase_lines(_repeat_store())
    shared = History.of(lines, "product")
    customers = np.unique(lines["customer_id"].to_numpy())
    for name, factory in candidates("product").items():
        alone = factory().fit(lines).top_k(customers, 5, exclude="none")
        together = factory().fit(lines, shared).top_k(customers, 5, exclude="none")
        assert np.array_equal(alone, together), name
    with pytest.raises(ValueError, match="category history given to a product model"):
        Popularity("product").fit(lines, History.of(lines, "category"))
