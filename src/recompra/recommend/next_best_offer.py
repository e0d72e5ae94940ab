"""Explained, policy-aware offers: next-best-offer per customer and bought-together per item.

:func:`next_best_offers` turns a fitted :class:`~recompra.recommend.recommenders.NextBestOffer`
into a table of offers with the evidence of each (why it was chosen, in numbers) and the
offer policy of the customer's segment and CLV (:mod:`recompra.recommend.policy`).
:func:`frequently_bought_together` reads the association rules of one item.
The sentences are rendered from the evidence by :mod:`recompra.recommend.explain`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recompra.recommend.explain import Evidence, Language, explain
from recompra.recommend.policy import OfferPolicy, policy_for
from recompra.recommend.recommenders import CHUNK_CELLS, NextBestOffer

OFFER_COLUMNS = (
    "customer_id",
    "rank",
    "item_id",
    "score",
    "reason",
    "anchor_id",
    "evidence_count",
    "evidence_lift",
    "evidence_share",
    "offer_type",
    "incentive",
)
OFFER_TYPES = {
    "bought_together": "cross_sell",
    "bought_later": "cross_sell",
    "category_affinity": "cross_sell",
    "repurchase": "repurchase",
    "upsell": "upsell",
    "popular": "popular",
}
#: Bonus that puts restock offers first for win-back policies.
_REPURCHASE_FIRST = 10.0


@dataclass(frozen=True)
class Suggestion:
    """One recommended item with its evidence.

    Attributes
    ----------
    item_id
        Recommended product or category id.
    score
        Ranking score (model-specific scale).
    evidence
        The numbers behind it; :meth:`explanation` renders them.
    offer_type, incentive
        Offer shape (``cross_sell``, ``repurchase``, ``upsell``, ``popular``) and the
        incentive the policy allows (``none``, ``loyalty_points``, ``free_shipping``,
        ``discount``).
    """

    item_id: int
    score: float
    evidence: Evidence
    offer_type: str = "cross_sell"
    incentive: str = "none"

    def explanation(self, language: Language = "en") -> str:
        """Return the sentence explaining this suggestion."""
        return explain(self.evidence, language)


def _policies(
    customer_ids: np.ndarray, segments: pd.DataFrame | None
) -> tuple[list[OfferPolicy], bool]:
    """Return the policy of each customer and whether any policy was given."""
    if segments is None or segments.empty:
        return [policy_for(None)] * len(customer_ids), False
    table = segments.drop_duplicates("customer_id").set_index("customer_id")
    seg = table["segment"] if "segment" in table else pd.Series(dtype=object)
    quantile = None
    if "clv" in table:
        quantile = table["clv"].rank(pct=True)
    policies = []
    for cid in customer_ids.tolist():
        name = seg.get(cid)
        q = quantile.get(cid) if quantile is not None else None
        policies.append(
            policy_for(
                str(name) if isinstance(name, str) else None,
                float(q) if q is not None and not pd.isna(q) else None,
            )
        )
    return policies, True


def next_best_offers(
    model: NextBestOffer,
    customer_ids: np.ndarray,
    k: int = 10,
    *,
    segments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the top-``k`` explained offers of each customer.

    Parameters
    ----------
    model
        A fitted next-best-offer model.
    customer_ids
        Customers; unknown ones get the best sellers (reason ``popular``).
    k
        Offers per customer.
    segments
        Optional table with ``customer_id`` and ``segment`` (RFM key) and/or ``clv``.
        When given, each customer's :class:`~recompra.recommend.policy.OfferPolicy`
        sets the incentive, the price ceiling (product level) and whether restock
        offers come first. Without it, offers are ranked on relevance alone and carry
        ``incentive="none"``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`OFFER_COLUMNS`, sorted by customer and rank. ``anchor_id`` is the
        history item (or the category, for ``category_affinity``) the evidence is about,
        -1 when none.
    """
    if not hasattr(model, "index_"):
        raise RuntimeError("the model is not fitted; call fit() first")
    ids = np.asarray(customer_ids, dtype=np.int64)
    policies, with_policy = _policies(ids, segments)
    n_items = model.index_.size
    records: list[tuple[object, ...]] = []
    if n_items == 0:
        return pd.DataFrame(records, columns=list(OFFER_COLUMNS))
    kk = min(k, n_items)
    chunk = max(1, CHUNK_CELLS // (4 * n_items))
    cust_pos = np.searchsorted(model.customers_, ids)
    for start in range(0, len(ids), chunk):
        block = ids[start : start + chunk]
        rows = model.history_rows(block)
        parts = model.components(rows)
        scores = parts["item"] + parts["category"] + parts["prior"] + parts["repeat"]
        scores += 1e-6 * model.popularity_norm_
        model._mask(scores, rows, "non_repeat")
        if with_policy:
            for r in range(len(block)):
                policy = policies[start + r]
                if policy.repurchase_first:
                    scores[r] += _REPURCHASE_FIRST * (parts["repeat"][r] > 0)
                ceiling = policy.price_ceiling
                p = int(cust_pos[start + r])
                known = p < len(model.customers_) and model.customers_[p] == block[r]
                if model.level == "product" and ceiling is not None and known:
                    limit = ceiling * model.customer_price_[p]
                    scores[r, model.item_price_ > limit] = -np.inf
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        for r in range(len(block)):
            policy = policies[start + r]
            for rank, j in enumerate(top[r].tolist(), start=1):
                if not np.isfinite(scores[r, j]):
                    break
                reason, anchor, count, lift, share = _evidence(model, parts, rows, r, j)
                records.append(
                    (
                        int(block[r]),
                        rank,
                        int(model.index_.ids[j]),
                        float(scores[r, j]),
                        reason,
                        anchor,
                        count,
                        lift,
                        share,
                        OFFER_TYPES[reason],
                        policy.incentive if with_policy else "none",
                    )
                )
    return pd.DataFrame(records, columns=list(OFFER_COLUMNS))


def _evidence(
    model: NextBestOffer,
    parts: Mapping[str, np.ndarray],
    rows: sp.csr_matrix,
    r: int,
    j: int,
) -> tuple[str, int, int, float, float]:
    """Return ``(reason, anchor id, count, lift, share)`` of suggestion ``j`` for row ``r``."""
    ids = model.index_.ids
    history = rows.indices[rows.indptr[r] : rows.indptr[r + 1]]
    times = int(rows[r, j])
    if times > 0:  # only repeat-purchase items of the history survive the exclusion
        return "repurchase", int(ids[j]), times, 0.0, 0.0
    terms = {name: float(parts[name][r, j]) for name in ("item", "category", "prior")}
    reason = max(terms, key=lambda name: terms[name])
    if reason == "item" and len(history):
        strength = model.item_conditional_[history][:, j].toarray().ravel()
        i = int(history[int(np.argmax(strength))])
        order = model.order_cooc_
        n_order = int(order.counts[i, j])
        if n_order > 0:
            return "bought_together", int(ids[i]), n_order, order.lift(i, j), 0.0
        cust = model.customer_cooc_
        return "bought_later", int(ids[i]), int(cust.counts[i, j]), cust.lift(i, j), 0.0
    if reason == "category" and len(history):
        cat_pos = model.item_category_pos_
        share = float(np.mean(cat_pos[history] == cat_pos[j]))
        category = int(model.index_.category[j])
        return "category_affinity", category, int(model.popularity_[j]), 0.0, share
    return "popular", -1, int(model.popularity_[j]), 0.0, 0.0


def evidence_of(
    row: Mapping[str, Any],
    names: Mapping[int, str] | None = None,
    names_en: Mapping[int, str] | None = None,
) -> Evidence:
    """Build the :class:`Evidence` of one offer row (see :data:`OFFER_COLUMNS`).

    ``names`` (and ``names_en`` when the English names differ) map the anchor id to the
    item or category name shown in the sentence.
    """
    anchor_id = int(row["anchor_id"])
    fallback = str(anchor_id) if anchor_id >= 0 else ""
    anchor = (names or {}).get(anchor_id, fallback)
    return Evidence(
        reason=str(row["reason"]),
        count=int(row["evidence_count"]),
        lift=float(row["evidence_lift"]),
        anchor=anchor,
        anchor_en=(names_en or {}).get(anchor_id, anchor),
        share=float(row["evidence_share"]),
    )


def frequently_bought_together(
    rules: pd.DataFrame,
    item_id: int,
    k: int = 10,
    *,
    min_count: int = 1,
    min_lift: float = 1.0,
) -> list[Suggestion]:
    """Return the items most often bought in the same order as ``item_id``.

    Parameters
    ----------
    rules
        Order-basket association rules (``CoPurchase.rules`` as pandas).
    item_id
        The anchor product (or category).
    k
        Suggestions returned.
    min_count
        Minimum orders holding both items.
    min_lift
        Only pairs bought together more often than by chance (lift above this).

    Returns
    -------
    list[Suggestion]
        Ranked by cosine (then count), each with its ``bought_together`` evidence.
    """
    mine = rules.loc[
        (rules["antecedent"] == item_id) & (rules["n_ab"] >= min_count) & (rules["lift"] > min_lift)
    ]
    mine = mine.sort_values(["cosine", "n_ab", "consequent"], ascending=[False, False, True])
    top = mine.head(k)
    return [
        Suggestion(
            item_id=int(item),
            score=float(cosine),
            evidence=Evidence("bought_together", count=int(n_ab), lift=float(lift)),
            offer_type="cross_sell",
        )
        for item, cosine, n_ab, lift in zip(
            top["consequent"].tolist(),
            top["cosine"].tolist(),
            top["n_ab"].tolist(),
            top["lift"].tolist(),
            strict=True,
        )
    ]
