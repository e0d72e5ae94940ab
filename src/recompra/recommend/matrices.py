"""Sparse customer x item and item x item matrices shared by the recommenders.

Item-item co-occurrence here is the same statistic as the SQL of
:mod:`recompra.recommend.sql` (``n_ab`` distinct baskets holding both items, cosine
``n_ab / sqrt(n_a * n_b)``), computed with a sparse product ``B.T @ B`` because the
recommenders need it as a matrix in memory. A test checks that both agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recompra.recommend.purchases import item_column
from recompra.recommend.sql import BasketKind, Level


@dataclass(frozen=True)
class ItemIndex:
    """Dense positions ``0..n-1`` for the item ids seen in training.

    Attributes
    ----------
    ids
        Sorted item ids (position -> id).
    category
        Category id of each item (the item itself at category level).
    """

    ids: np.ndarray
    category: np.ndarray

    @property
    def size(self) -> int:
        """Number of items."""
        return len(self.ids)

    def positions(self, item_ids: np.ndarray) -> np.ndarray:
        """Return the positions of ``item_ids`` (-1 for ids not in the index)."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if self.size == 0:
            return np.full(len(item_ids), -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.ids, item_ids), 0, self.size - 1)
        return np.where(self.ids[pos] == item_ids, pos, -1)


def build_item_index(lines: pd.DataFrame, level: Level) -> ItemIndex:
    """Index the items of ``lines`` at ``level`` with their categories."""
    column = item_column(level)
    firsts = lines.groupby(column)["category_id"].first().sort_index()
    ids = firsts.index.to_numpy(dtype=np.int64)
    category = ids.copy() if level == "category" else firsts.to_numpy(dtype=np.int64)
    return ItemIndex(ids=ids, category=category)


def basket_matrix(
    lines: pd.DataFrame, index: ItemIndex, level: Level, basket: BasketKind
) -> tuple[np.ndarray, sp.csr_matrix]:
    """Return ``(basket ids, binary basket x item CSR matrix)`` of distinct purchases."""
    column = item_column(level)
    key = "order_id" if basket == "order" else "customer_id"
    pairs = lines[[key, column]].drop_duplicates()
    pos = index.positions(pairs[column].to_numpy())
    keep = pos >= 0
    basket_ids, rows = np.unique(pairs[key].to_numpy(dtype=np.int64)[keep], return_inverse=True)
    data = np.ones(int(keep.sum()), dtype=np.float64)
    matrix = sp.csr_matrix(
        (data, (rows, pos[keep])), shape=(len(basket_ids), index.size), dtype=np.float64
    )
    return basket_ids, matrix


@dataclass(frozen=True)
class Cooccurrence:
    """Item x item co-occurrence of one basket kind.

    Attributes
    ----------
    counts
        ``n_ab`` (CSR, zero diagonal).
    item_counts
        ``n_a``: baskets holding each item.
    n_baskets
        Number of baskets.
    """

    counts: sp.csr_matrix
    item_counts: np.ndarray
    n_baskets: int

    @cached_property
    def cosine(self) -> sp.csr_matrix:
        """``n_ab / sqrt(n_a n_b)`` (CSR, zero diagonal), computed on first use.

        Only the plain co-occurrence candidate ranks by it; next-best-offer and the lift
        candidate keep two or one co-occurrence without ever reading it, and a cosine as
        large as the counts, kept for every fitted model of every validation window,
        was a third of the model selection's memory (docs/recommend.md).
        """
        inv = np.zeros_like(self.item_counts)
        np.divide(1.0, np.sqrt(self.item_counts), out=inv, where=self.item_counts > 0)
        diag = sp.diags(inv)
        cosine: sp.csr_matrix = (diag @ self.counts @ diag).tocsr()
        return cosine

    def lift(self, a: int, b: int) -> float:
        """Return the lift of the item positions ``a`` and ``b`` (0 when never together)."""
        n_ab = float(self.counts[a, b])
        denom = float(self.item_counts[a]) * float(self.item_counts[b])
        return n_ab * self.n_baskets / denom if denom > 0 else 0.0


def cooccurrence_matrix(
    lines: pd.DataFrame,
    index: ItemIndex,
    level: Level,
    basket: BasketKind,
    *,
    min_pair_count: int = 1,
) -> Cooccurrence:
    """Compute :class:`Cooccurrence` from purchase lines.

    Parameters
    ----------
    lines
        Purchase lines.
    index
        The item index.
    level, basket
        Item level and basket kind.
    min_pair_count
        Pairs seen together in fewer baskets are dropped (noise control).
    """
    _, b = basket_matrix(lines, index, level, basket)
    counts = (b.T @ b).tocsr()
    counts.setdiag(0.0)
    counts.data[counts.data < min_pair_count] = 0.0
    counts.eliminate_zeros()
    item_counts = np.asarray(b.sum(axis=0)).ravel()
    return Cooccurrence(counts=counts, item_counts=item_counts, n_baskets=b.shape[0])


def customer_history(
    lines: pd.DataFrame, index: ItemIndex, level: Level
) -> tuple[np.ndarray, sp.csr_matrix]:
    """Return ``(customer ids, customer x item CSR of distinct orders holding the item)``."""
    column = item_column(level)
    pairs = lines[["customer_id", "order_id", column]].drop_duplicates()
    pos = index.positions(pairs[column].to_numpy())
    keep = pos >= 0
    customers, rows = np.unique(
        pairs["customer_id"].to_numpy(dtype=np.int64)[keep], return_inverse=True
    )
    matrix = sp.csr_matrix(
        (np.ones(int(keep.sum())), (rows, pos[keep])),
        shape=(len(customers), index.size),
        dtype=np.float64,
    )
    matrix.sum_duplicates()
    return customers, matrix


@dataclass(frozen=True)
class History:
    """The item index and customer x item history of some purchase lines at one level.

    Every model fitted on the same lines computes the same two (the costliest part of
    fitting a simple model at scale): the model selection and the served lists compute
    them once and pass them to each ``fit`` (:meth:`~recompra.recommend.base.
    BaseRecommender.fit`). Shared, so read only.

    Attributes
    ----------
    level
        Item level.
    index
        The item index (:func:`build_item_index`).
    customers, matrix
        Customer ids and their history (:func:`customer_history`).
    """

    level: Level
    index: ItemIndex
    customers: np.ndarray
    matrix: sp.csr_matrix
    _cooccurrences: dict[tuple[BasketKind, int], Cooccurrence] = field(
        default_factory=dict, compare=False, repr=False
    )

    def cooccurrence(
        self, lines: pd.DataFrame, basket: BasketKind, *, min_pair_count: int = 1
    ) -> Cooccurrence:
        """Return :func:`cooccurrence_matrix` of these lines, computed once per history.

        Plain co-occurrence, its lift variant and next-best-offer each count the same
        order baskets (``B.T @ B``, the costliest part of their fit at scale, and its
        result as large as the pairs): shared, each window of the model selection
        computes and holds it once. ``lines`` must be those of this history, as for
        :meth:`~recompra.recommend.base.BaseRecommender.fit`.
        """
        key = (basket, min_pair_count)
        if key not in self._cooccurrences:
            self._cooccurrences[key] = cooccurrence_matrix(
                lines, self.index, self.level, basket, min_pair_count=min_pair_count
            )
        return self._cooccurrences[key]

    @classmethod
    def of(cls, lines: pd.DataFrame, level: Level) -> History:
        """Index the items of ``lines`` and build their customers' history."""
        index = build_item_index(lines, level)
        customers, matrix = customer_history(lines, index, level)
        return cls(level=level, index=index, customers=customers, matrix=matrix)


#: Entries of a matrix :func:`top_per_row` sorts at once. Sorting every entry together
#: took several index arrays as long as the matrix (about 40 bytes an entry): at 10M
#: orders the customer-level co-occurrence has some 10^8 of them.
TOP_ROW_ENTRIES = 4_000_000


def top_per_row(matrix: sp.csr_matrix, m: int, *, entries: int = TOP_ROW_ENTRIES) -> sp.csr_matrix:
    """Keep the ``m`` largest entries of each row of a CSR matrix (ties: lower column).

    Rows are sorted in blocks of about ``entries`` entries (a row is never split): the
    row is the first sort key, so the blocks keep exactly what one sort would.
    """
    matrix = matrix.tocsr()
    matrix.sum_duplicates()
    lengths = np.diff(matrix.indptr)
    if m <= 0 or lengths.max(initial=0) <= m:
        return matrix
    indptr = matrix.indptr
    kept: list[np.ndarray] = []
    start = 0
    while start < matrix.shape[0]:
        # The last row whose end stays within the budget (at least one row).
        stop = int(np.searchsorted(indptr, indptr[start] + entries, side="right")) - 1
        stop = min(max(stop, start + 1), matrix.shape[0])
        first = int(indptr[start])
        row = np.repeat(np.arange(start, stop), lengths[start:stop])
        span = slice(first, int(indptr[stop]))
        order = np.lexsort((matrix.indices[span], -matrix.data[span], row))
        rank = np.arange(len(order)) - (indptr[row[order]] - first)
        kept.append(order[rank < m] + first)
        start = stop
    keep = np.concatenate(kept)
    row = np.searchsorted(indptr, keep, side="right") - 1
    pruned = sp.csr_matrix((matrix.data[keep], (row, matrix.indices[keep])), shape=matrix.shape)
    return pruned
