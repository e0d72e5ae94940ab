"""Cross-sell and upsell: co-purchase statistics, bought-together, upsell, next-best-offer.

Everything reads the analytics snapshot (:mod:`recompra.snapshot.schema`). See
``docs/recommend.md`` for the definitions, the policy and the evaluation protocol.

Typical use::

    from recompra.recommend import refresh, RecommendationIndex

    refresh(Path("snapshot"), Path("reco"))            # batch, DuckDB (or engine="spark")
    index = RecommendationIndex.load(Path("reco"))
    for s in index.for_customer(42):
        print(s.item_id, s.offer_type, s.explanation("pt-BR"))
"""

from __future__ import annotations

from recompra.recommend.backtest import TimeSplit, time_split
from recompra.recommend.cooccurrence import (
    CoPurchase,
    CoPurchaseSpec,
    cooccurrence,
    cooccurrence_pandas,
)
from recompra.recommend.ease import Ease
from recompra.recommend.evaluate import evaluate_recommenders
from recompra.recommend.explain import Evidence, explain
from recompra.recommend.flows import RefreshConfig, evaluate_snapshot, policy_segments, refresh
from recompra.recommend.next_best_offer import (
    Suggestion,
    frequently_bought_together,
    next_best_offers,
)
from recompra.recommend.policy import OfferPolicy, policy_for
from recompra.recommend.purchases import Catalogue, load_tables, purchase_lines
from recompra.recommend.recommenders import ItemCooccurrence, NextBestOffer, Popularity
from recompra.recommend.repeat import rebuy_table
from recompra.recommend.replenishment import OwnHistory, Replenishment
from recompra.recommend.selection import ServingPlan, choose_plan
from recompra.recommend.served import ServedRecommender
from recompra.recommend.serving import RecommendationIndex
from recompra.recommend.upsell import product_stats, upsell_candidates

__all__ = [
    "Catalogue",
    "CoPurchase",
    "CoPurchaseSpec",
    "Ease",
    "Evidence",
    "ItemCooccurrence",
    "NextBestOffer",
    "OfferPolicy",
    "OwnHistory",
    "Popularity",
    "RecommendationIndex",
    "RefreshConfig",
    "Replenishment",
    "ServedRecommender",
    "ServingPlan",
    "Suggestion",
    "TimeSplit",
    "choose_plan",
    "cooccurrence",
    "cooccurrence_pandas",
    "evaluate_recommenders",
    "evaluate_snapshot",
    "explain",
    "frequently_bought_together",
    "load_tables",
    "next_best_offers",
    "policy_for",
    "policy_segments",
    "product_stats",
    "purchase_lines",
    "rebuy_table",
    "refresh",
    "time_split",
    "upsell_candidates",
]
