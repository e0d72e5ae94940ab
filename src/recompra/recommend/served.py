"""The served recommender: the plan's choice for each list, fitted, with the offer rules.

:class:`ServedRecommender` fits the methods a :class:`~recompra.recommend.selection.
ServingPlan` chose (each candidate once, shared by the lists that use it) and returns
the three lists. The non-intrusive offer rules apply to every served list:

* never a product the customer *just* bought, "just" read from the product's own
  re-purchase gaps (:class:`~recompra.recommend.repeat.JustBoughtRule`): restocking waits
  until the item can be due again (product lists only: at category level re-offering the
  category just bought is category affinity, not an intrusion);
* never an item of ``never_offer`` (non-merchandise lines such as postage or gift wrap,
  inactive or out-of-stock products, when the snapshot says so: see
  :func:`~recompra.recommend.purchases.never_offered`).

Customers unknown to the fitted period get the ``cold_start`` list in every list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recompra.recommend.backtest import ListKind
from recompra.recommend.base import SPARSE_CHUNK, BaseRecommender, Exclude
from recompra.recommend.matrices import History
from recompra.recommend.repeat import JustBoughtRule, customer_item_stats
from recompra.recommend.selection import (
    ServingPlan,
    candidates,
    methods_needed,
    serving_model,
)
from recompra.recommend.topk import BlockMemo

#: Extra depth fetched so that the offer rules can drop items and still fill ``k``.
_SPARE = 20


class ServedRecommender:
    """The lists the plan chose, with the offer rules (see the module docstring).

    Parameters
    ----------
    plan
        The per-store choice (:func:`~recompra.recommend.selection.choose_plan`).
    never_offer
        Item ids never offered.
    just_bought
        When a bought product may be offered again; ``None`` switches the rule off (the
        methods' own lists, as the back-test scores them).
    """

    def __init__(
        self,
        plan: ServingPlan,
        *,
        never_offer: Iterable[int] = (),
        just_bought: JustBoughtRule | None = JustBoughtRule(),
    ) -> None:
        self.plan = plan
        self.never_offer = np.unique(np.fromiter(never_offer, dtype=np.int64))
        self.just_bought = just_bought

    def fit(self, lines: pd.DataFrame) -> Self:
        """Fit the chosen methods on ``lines`` (the whole history when serving)."""
        level = self.plan.level
        factories = candidates(level, self.plan.ease_l2)
        needed = methods_needed(self.plan.choices) & set(factories)
        shared = History.of(lines, level)
        self.history_: History = shared
        fitted = {name: factories[name]().fit(lines, shared) for name in sorted(needed)}
        #: The fitted candidates, by name (members of the blends and rankers).
        self.fitted_: dict[str, BaseRecommender] = fitted
        self.models_: dict[ListKind, BaseRecommender] = {}
        self.excludes_: dict[ListKind, Exclude] = {}
        for kind, choice in self.plan.choices.items():
            model, mode = serving_model(choice, fitted, lines)
            self.models_[kind], self.excludes_[kind] = model, mode
        reference = next(iter(fitted.values()))
        self.customers_: np.ndarray = reference.customers_
        stats = customer_item_stats(lines, reference.index_, reference.customers_, level)
        self.ids_: np.ndarray = reference.index_.ids
        recent = stats.since_days.tocoo()
        if self.just_bought is None or level != "product":
            window = np.zeros(len(self.ids_))
        else:
            window = self.just_bought.window_days(lines, level, self.ids_)
        # since_days stores the days since the last purchase plus one (see repeat.py).
        inside = (recent.data - 1.0) < window[recent.col]
        self.just_bought_: sp.csr_matrix = sp.csr_matrix(
            (np.ones(int(inside.sum())), (recent.row[inside], recent.col[inside])),
            shape=recent.shape,
        )
        return self

    def top_k(self, customer_ids: np.ndarray, k: int, kind: ListKind) -> np.ndarray:
        """Return the served ``kind`` list of each customer (item ids, ``-1`` pads)."""
        if not hasattr(self, "models_"):
            raise RuntimeError("the served recommender is not fitted; call fit() first")
        ids = np.asarray(customer_ids, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.customers_, ids), 0, max(len(self.customers_) - 1, 0))
        known = (self.customers_[pos] == ids) if len(self.customers_) else np.zeros(len(ids), bool)
        cold, cold_mode = self.models_["cold_start"], self.excludes_["cold_start"]
        if kind == "cold_start":
            return self._apply_rules(cold.top_k(ids, k + _SPARE, exclude=cold_mode), pos, known, k)
        out = np.full((len(ids), k), -1, dtype=np.int64)
        for which, model, mode in (
            (known, self.models_[kind], self.excludes_[kind]),
            (~known, cold, cold_mode),
        ):
            if which.any():
                deep = model.top_k(ids[which], k + _SPARE, exclude=mode)
                out[which] = self._apply_rules(deep, pos[which], known[which], k)
        return out

    def top_k_lists(
        self, customer_ids: np.ndarray, k: int, kinds: Sequence[ListKind]
    ) -> dict[ListKind, np.ndarray]:
        """Return :meth:`top_k` of every kind in ``kinds``, ranked block by block.

        The lists of one block are ranked one after the other while each fitted candidate
        keeps its last block's scores (:class:`~recompra.recommend.topk.BlockMemo`), so
        the members the lists share score each block once. The same lists as
        :meth:`top_k` per kind: every row is ranked on its own.
        """
        ids = np.asarray(customer_ids, dtype=np.int64)
        out = {kind: np.full((len(ids), k), -1, dtype=np.int64) for kind in kinds}
        for model in self.fitted_.values():
            model.block_memo_ = BlockMemo()
        try:
            for start in range(0, len(ids), SPARSE_CHUNK):
                block = ids[start : start + SPARSE_CHUNK]
                for kind in kinds:
                    out[kind][start : start + len(block)] = self.top_k(block, k, kind)
        finally:
            for model in self.fitted_.values():
                model.block_memo_ = None
        return out

    def _apply_rules(
        self, deep: np.ndarray, rows: np.ndarray, known: np.ndarray, k: int
    ) -> np.ndarray:
        banned = np.isin(deep, self.never_offer)
        if known.any():
            recent = self.just_bought_[rows].tocoo()
            recent_ids = self.ids_[recent.col]
            stride = int(max(self.ids_.max(initial=0), deep.max(initial=0))) + 2
            keys = np.unique(recent.row.astype(np.int64) * stride + recent_ids)
            row_index = np.arange(len(deep), dtype=np.int64)[:, None]
            mine = np.isin(row_index * stride + np.maximum(deep, 0), keys)
            banned |= mine & known[:, None] & (deep >= 0)
        kept = np.where(banned, -1, deep)
        # Move the surviving items to the front, keeping their order.
        order = np.argsort(kept < 0, axis=1, kind="stable")
        return np.take_along_axis(kept, order, axis=1)[:, :k]

    def methods(self) -> dict[str, str]:
        """Return the method serving each list."""
        return {kind: choice.method for kind, choice in self.plan.choices.items()}
