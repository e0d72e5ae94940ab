"""Upsell: same category, inside the price band, not worse rated."""

from __future__ import annotations

import pandas as pd
import pytest
from _recommend_fixtures import snapshot_tables

from recompra.recommend.purchases import Catalogue, purchase_lines
from recompra.recommend.upsell import product_stats, upsell_candidates


@pytest.fixture
def stats() -> pd.DataFrame:
    # Anchor 1 costs 100.00 in category 7. Candidates in category 7 at 105 (below the band),
    # 150 and 190 (inside 1.1x-2.0x), 250 (above); product 6 costs 150 in category 8.
    products = [
        (1, 7, 10000),
        (2, 7, 10500),
        (3, 7, 15000),
        (4, 7, 19000),
        (5, 7, 25000),
        (6, 8, 15000),
    ]
    orders, lines, reviews = [], [], []
    order_id = 0
    scores = {1: 4, 2: 5, 3: 5, 4: 2, 5: 5, 6: 5}
    for product, category, price in products:
        for _ in range(4):  # four orders per product, each reviewed with its score
            order_id += 1
            orders.append((order_id, order_id, "delivered", order_id))
            lines.append((order_id, product, category, price))
            reviews.append((order_id, scores[product]))
    tables = snapshot_tables(orders, lines, products=products, reviews=reviews)
    catalogue = Catalogue.from_tables(tables)
    review_frame = tables["reviews"].select(["order_id", "score"]).to_pandas()
    return product_stats(purchase_lines(tables), review_frame, catalogue.products, prior_weight=5.0)


def test_product_stats_shrunk_rating(stats: pd.DataFrame) -> None:
    row = stats.set_index("product_id").loc[1]
    # Store mean score: (4*4 + 5*4*4 + 2*4) / 24 = 104 / 24; product 1 has four 4-star reviews.
    mean = 104 / 24
    assert row["n_orders"] == 4
    assert row["n_reviews"] == 4
    assert row["avg_score"] == pytest.approx(4.0)
    assert row["rating"] == pytest.approx((16 + 5 * mean) / 9)
    assert row["price_minor"] == 10000


def test_upsell_respects_band_category_and_rating(stats: pd.DataFrame) -> None:
    result = upsell_candidates(stats, price_band=(1.1, 2.0), min_orders=1)
    mine = result.loc[result["anchor"] == 1]
    # 2 is too cheap (1.05x), 5 too expensive (2.5x), 6 another category, 4 worse rated.
    assert mine["candidate"].tolist() == [3]
    assert mine["price_ratio"].tolist() == [pytest.approx(1.5)]
    for row in result.itertuples():
        assert 1.1 <= row.price_ratio <= 2.0


def test_band_is_configurable(stats: pd.DataFrame) -> None:
    wide = upsell_candidates(stats, price_band=(1.0, 3.0), min_orders=1)
    assert sorted(wide.loc[wide["anchor"] == 1, "candidate"]) == [2, 3, 5]
    gain = upsell_candidates(stats, price_band=(1.0, 3.0), min_orders=1, min_rating_gain=5.0)
    assert gain.loc[gain["anchor"] == 1].empty
    with pytest.raises(ValueError, match="price_band"):
        upsell_candidates(stats, price_band=(2.0, 1.0))
