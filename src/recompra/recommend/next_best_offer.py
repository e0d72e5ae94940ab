"""Explained, policy-aware offers: next-best-offer per customer and bought-together per item.

:func:`next_best_offers` turns a fitted :class:`~recompra.recommend.nbo_model.NextBestOffer`
(its own ranking, or lists another recommender ranked, such as the served ones of
:mod:`recompra.recommend.served`) into a table of offers with the evidence of each (why
it was chosen, in numbers) and the offer policy of the customer's segment and CLV
(:mod:`recompra.recommend.policy`). :func:`frequently_bought_together` reads the
association rules of one item. The sentences are rendered from the evidence by
:mod:`recompra.recommend.explain`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recompra.recommend.explain import Evidence, Language, explain
from recompra.recommend.policy import OfferPolicy, policy_for

if TYPE_CHECKING:
    # Types only: the serving side (the API's reads) imports this module for its
    # suggestions and must not import scipy (issue 20).
    import scipy.sparse as sp

    from recompra.recommend.nbo_model import NextBestOffer, SparseTerms

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
#: Customers scored at once (sparse, so memory grows with their evidence, not the catalogue).
_CHUNK = 2_000
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
    lists: np.ndarray | None = None,
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
    lists
        Optional ``(len(customer_ids), depth)`` item ids ranked by another recommender
        (``-1`` pads): the offers are then those lists, in that order, filtered by the
        policy; ``model`` (fitted on the same lines) only explains them, and ``score``
        is ``1 / rank`` in the list.

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
    if n_items == 0:
        return pd.DataFrame(columns=list(OFFER_COLUMNS))
    kk = min(k, n_items)
    cust_pos = np.clip(np.searchsorted(model.customers_, ids), 0, len(model.customers_) - 1)
    known = model.customers_[cust_pos] == ids
    incentives = np.array([p.incentive if with_policy else "none" for p in policies])
    popular_order = np.argsort(-model.base_rate_, kind="stable")
    frames = []
    for start in range(0, len(ids), _CHUNK):
        stop = start + _CHUNK
        block = ids[start:stop]
        rows = model.history_rows(block)
        terms = model.sparse_terms(rows)
        block_policies = policies[start:stop] if with_policy else None
        block_price = np.where(
            known[start:stop], model.customer_price_[cust_pos[start:stop]], np.nan
        )
        if lists is None:
            r_idx, j_idx, score = _top_candidates(
                model, rows, terms, popular_order, kk, block_policies, block_price
            )
        else:
            r_idx, j_idx, score = _listed_candidates(
                model, rows, lists[start:stop], kk, block_policies, block_price
            )
        values = {
            "item": np.asarray(terms.item[r_idx, j_idx]).ravel(),
            "category": np.asarray(terms.category[r_idx, j_idx]).ravel(),
            "prior": terms.prior_mass[r_idx] * model.base_rate_[j_idx],
        }
        evidence = _evidence(model, values, rows, r_idx, j_idx)
        rank = np.arange(len(r_idx)) - np.searchsorted(r_idx, r_idx)
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": block[r_idx],
                    "rank": rank + 1,
                    "item_id": model.index_.ids[j_idx],
                    "score": score,
                    **evidence,
                    "incentive": incentives[start:stop][r_idx],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=list(OFFER_COLUMNS))
    result = pd.concat(frames, ignore_index=True)
    result["offer_type"] = result["reason"].map(OFFER_TYPES)
    return result[list(OFFER_COLUMNS)]


def _top_candidates(
    model: NextBestOffer,
    rows: sp.csr_matrix,
    terms: SparseTerms,
    popular_order: np.ndarray,
    k: int,
    policies: list[OfferPolicy] | None,
    customer_price: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(row, item position, score)`` of the top-``k`` per row, sorted by row, rank.

    Exact without densifying: items without sparse evidence score
    ``prior_mass[u] * base_rate[j]``, so only the evidence items and the ``k + |history|``
    best sellers can reach a customer's top ``k``. (A price ceiling that rules out most of
    those best sellers can leave a list shorter than ``k``; it is not refilled.)
    """
    n, n_items = rows.shape
    evidence = (terms.item + terms.category + terms.repeat).tocsr()
    longest = int(np.diff(rows.indptr).max()) if n else 0
    popular = popular_order[: min(n_items, k + longest)]
    import scipy.sparse as sp  # lazy, see the TYPE_CHECKING imports

    fill = sp.csr_matrix(
        (np.ones(n * len(popular)), (np.repeat(np.arange(n), len(popular)), np.tile(popular, n))),
        shape=(n, n_items),
    )
    pattern = (abs(evidence) + fill).tocsr()
    pattern.sum_duplicates()
    pattern.sort_indices()
    row = np.repeat(np.arange(n, dtype=np.int64), np.diff(pattern.indptr))
    col = pattern.indices.astype(np.int64)
    key = row * n_items + col
    evidence.sum_duplicates()
    evidence.sort_indices()
    e_key = np.repeat(np.arange(n, dtype=np.int64), np.diff(evidence.indptr)) * n_items
    e_key = e_key + evidence.indices
    at = np.clip(np.searchsorted(e_key, key), 0, max(len(e_key) - 1, 0))
    found = (e_key[at] == key) if len(e_key) else np.zeros(len(key), dtype=bool)
    score = np.where(found, evidence.data[at] if len(e_key) else 0.0, 0.0)
    score = score + terms.prior_mass[row] * model.base_rate_[col]
    score = score + 1e-6 * model.popularity_norm_[col]
    # History items this store does not re-buy are never offered again.
    bought = _bought(rows, row, col)
    keep = ~bought | model.repeatable_[col]
    return _policy_top(model, row, col, score, keep, bought, k, policies, customer_price)


def _bought(rows: sp.csr_matrix, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Return whether each ``(row, col)`` is in the history ``rows``."""
    n_items = rows.shape[1]
    hist = rows.tocoo()
    hist_key = hist.row.astype(np.int64) * n_items + hist.col
    return np.isin(row * n_items + col, hist_key)


def _listed_candidates(
    model: NextBestOffer,
    rows: sp.csr_matrix,
    lists: np.ndarray,
    k: int,
    policies: list[OfferPolicy] | None,
    customer_price: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`_top_candidates`, for lists ranked elsewhere (score ``1 / rank``)."""
    n, depth = lists.shape
    row = np.repeat(np.arange(n, dtype=np.int64), depth)
    col = model.index_.positions(lists.ravel())
    score = np.tile(1.0 / np.arange(1, depth + 1), n)
    keep = col >= 0
    row, col, score = row[keep], col[keep], score[keep]
    bought = _bought(rows, row, col)
    return _policy_top(
        model, row, col, score, np.ones(len(row), bool), bought, k, policies, customer_price
    )


def _policy_top(
    model: NextBestOffer,
    row: np.ndarray,
    col: np.ndarray,
    score: np.ndarray,
    keep: np.ndarray,
    bought: np.ndarray,
    k: int,
    policies: list[OfferPolicy] | None,
    customer_price: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the policies (price ceiling, restock first), return the top ``k`` per row."""
    if policies is not None:
        first = np.array([p.repurchase_first for p in policies], dtype=bool)
        score = score + _REPURCHASE_FIRST * (bought & first[row])
        ceiling = np.array(
            [np.inf if p.price_ceiling is None else p.price_ceiling for p in policies]
        )
        limit = ceiling * customer_price
        if model.level == "product":
            limit = np.where(np.isnan(limit), np.inf, limit)
            keep = keep & ~(model.item_price_[col] > limit[row])
    row, col, score = row[keep], col[keep], score[keep]
    order = np.lexsort((col, -score, row))
    row, col, score = row[order], col[order], score[order]
    rank = np.arange(len(row)) - np.searchsorted(row, row)
    top = rank < k
    return row[top], col[top], score[top]


def _history_pairs(rows: sp.csr_matrix, r_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(suggestion, history item)`` pairs: every history item of each row ``r_idx``."""
    starts, ends = rows.indptr[r_idx], rows.indptr[r_idx + 1]
    sizes = ends - starts
    slot = np.repeat(np.arange(len(r_idx)), sizes)
    offsets = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return slot, rows.indices[np.repeat(starts, sizes) + offsets].astype(np.int64)


def _evidence(
    model: NextBestOffer,
    values: Mapping[str, np.ndarray],
    rows: sp.csr_matrix,
    r_idx: np.ndarray,
    j_idx: np.ndarray,
) -> dict[str, np.ndarray]:
    """Return reason, anchor id, count, lift and share of the suggestions ``(r, j)``.

    The reason is what singles the item out: ``repurchase`` for repeat items of the
    history; else the larger evidence term, co-occurrence (``bought_together`` when the
    best history anchor was ever in the same order, ``bought_later`` otherwise) or
    ``category_affinity``; ``popular`` when there is no evidence beyond the prior that
    every item shares.
    """
    n = len(r_idx)
    ids = model.index_.ids
    times = np.asarray(rows[r_idx, j_idx]).ravel() if n else np.zeros(0)
    item_term, category_term = values["item"], values["category"]
    has_evidence = (np.maximum(item_term, category_term) > 0) & (np.diff(rows.indptr)[r_idx] > 0)
    reason = np.where(item_term >= category_term, "item", "category")
    reason = np.where(has_evidence, reason, "popular")
    reason = np.where(times > 0, "repurchase", reason).astype(object)
    anchor = np.full(n, -1, dtype=np.int64)
    count = model.popularity_[j_idx].astype(np.int64) if n else np.zeros(0, np.int64)
    lift = np.zeros(n)
    share = np.zeros(n)

    repeat = reason == "repurchase"
    anchor[repeat] = ids[j_idx[repeat]]
    count[repeat] = times[repeat].astype(np.int64)

    cooc = np.flatnonzero(reason == "item")
    if len(cooc):
        # The strongest history anchor per suggestion (first in history order on ties).
        slot, history = _history_pairs(rows, r_idx[cooc])
        strength = np.asarray(model.item_conditional_[history, j_idx[cooc][slot]]).ravel()
        first = np.lexsort((np.arange(len(slot)), -strength, slot))
        starts = np.searchsorted(slot[first], np.arange(len(cooc)))
        best = history[first[starts]]
        j = j_idx[cooc]
        order, cust = model.order_cooc_, model.customer_cooc_
        n_order = np.asarray(order.counts[best, j]).ravel()
        n_cust = np.asarray(cust.counts[best, j]).ravel()
        together = n_order > 0
        reason[cooc] = np.where(together, "bought_together", "bought_later")
        anchor[cooc] = ids[best]
        count[cooc] = np.where(together, n_order, n_cust).astype(np.int64)
        lift[cooc] = np.where(
            together,
            n_order * order.n_baskets / (order.item_counts[best] * order.item_counts[j]),
            n_cust * cust.n_baskets / (cust.item_counts[best] * cust.item_counts[j]),
        )

    affinity = np.flatnonzero(reason == "category")
    if len(affinity):
        cat_pos = model.item_category_pos_
        slot, history = _history_pairs(rows, r_idx[affinity])
        same = cat_pos[history] == cat_pos[j_idx[affinity][slot]]
        sizes = np.bincount(slot, minlength=len(affinity))
        share[affinity] = np.bincount(slot, weights=same, minlength=len(affinity)) / sizes
        anchor[affinity] = model.index_.category[j_idx[affinity]]
        reason[affinity] = "category_affinity"
    return {
        "reason": reason,
        "anchor_id": anchor,
        "evidence_count": count,
        "evidence_lift": lift,
        "evidence_share": share,
    }


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
    return bought_together_suggestions(mine.head(k), item_column="consequent")


def bought_together_suggestions(
    rows: pd.DataFrame | Mapping[str, np.ndarray], *, item_column: str
) -> list[Suggestion]:
    """Cross-sell suggestions from co-purchase rows, in their order.

    Parameters
    ----------
    rows
        Columns ``cosine``, ``n_ab`` (orders holding both items), ``lift`` and the
        suggested item's id in ``item_column``.
    item_column
        ``consequent`` in the association rules, ``item_id`` in the served table.
    """
    return [
        Suggestion(
            item_id=int(item),
            score=float(cosine),
            evidence=Evidence("bought_together", count=int(n_ab), lift=float(lift)),
            offer_type="cross_sell",
        )
        for item, cosine, n_ab, lift in zip(
            rows[item_column].tolist(),
            rows["cosine"].tolist(),
            rows["n_ab"].tolist(),
            rows["lift"].tolist(),
            strict=True,
        )
    ]
