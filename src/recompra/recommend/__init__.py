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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from recompra.recommend.item_cooccurrence import ItemCooccurrence
    from recompra.recommend.nbo_model import NextBestOffer
    from recompra.recommend.next_best_offer import (
        Suggestion,
        frequently_bought_together,
        next_best_offers,
    )
    from recompra.recommend.policy import OfferPolicy, policy_for
    from recompra.recommend.popularity import Popularity
    from recompra.recommend.purchases import Catalogue, load_tables, purchase_lines
    from recompra.recommend.repeat import rebuy_table
    from recompra.recommend.replenishment import OwnHistory, Replenishment
    from recompra.recommend.selection import ServingPlan, choose_plan
    from recompra.recommend.served import ServedRecommender
    from recompra.recommend.serving import RecommendationIndex
    from recompra.recommend.upsell import product_stats, upsell_candidates

# The names load on first use (PEP 562): importing one light module of the package,
# like the API server does for ``serving``, must not import scipy through the
# recommenders (issue 20: seconds of start-up for every process).
_EXPORTS: dict[str, str] = {
    "Catalogue": "recompra.recommend.purchases",
    "CoPurchase": "recompra.recommend.cooccurrence",
    "CoPurchaseSpec": "recompra.recommend.cooccurrence",
    "Ease": "recompra.recommend.ease",
    "Evidence": "recompra.recommend.explain",
    "ItemCooccurrence": "recompra.recommend.item_cooccurrence",
    "NextBestOffer": "recompra.recommend.nbo_model",
    "OfferPolicy": "recompra.recommend.policy",
    "OwnHistory": "recompra.recommend.replenishment",
    "Popularity": "recompra.recommend.popularity",
    "RecommendationIndex": "recompra.recommend.serving",
    "RefreshConfig": "recompra.recommend.flows",
    "Replenishment": "recompra.recommend.replenishment",
    "ServedRecommender": "recompra.recommend.served",
    "ServingPlan": "recompra.recommend.selection",
    "Suggestion": "recompra.recommend.next_best_offer",
    "TimeSplit": "recompra.recommend.backtest",
    "choose_plan": "recompra.recommend.selection",
    "cooccurrence": "recompra.recommend.cooccurrence",
    "cooccurrence_pandas": "recompra.recommend.cooccurrence",
    "evaluate_recommenders": "recompra.recommend.evaluate",
    "evaluate_snapshot": "recompra.recommend.flows",
    "explain": "recompra.recommend.explain",
    "frequently_bought_together": "recompra.recommend.next_best_offer",
    "load_tables": "recompra.recommend.purchases",
    "next_best_offers": "recompra.recommend.next_best_offer",
    "policy_for": "recompra.recommend.policy",
    "policy_segments": "recompra.recommend.flows",
    "product_stats": "recompra.recommend.upsell",
    "purchase_lines": "recompra.recommend.purchases",
    "rebuy_table": "recompra.recommend.repeat",
    "refresh": "recompra.recommend.flows",
    "time_split": "recompra.recommend.backtest",
    "upsell_candidates": "recompra.recommend.upsell",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
