"""Exact top-``k`` selection for the recommenders, dense and sparse, with one tie rule.

**Tie rule.** Every served list orders items by score, best first, and equal scores by
the lower item position (the item index is sorted by id, so: the lower item id). The
recommenders add ``1e-6 * popularity`` to their scores before ranking
(:class:`~recompra.recommend.base.BaseRecommender`), so in practice the order is
"score, then popularity, then lower id"; both paths below apply the rule the same way.

**Dense** (:func:`dense_top`): a block of customers x the whole catalogue.

**Sparse** (:func:`sparse_top`): the scores of a block of customers written as::

    score[u, j] = (evidence[u, j] + mass[u] * prior[j]) + tie[j]

with ``evidence`` sparse (the items a customer can reach: co-occurrence neighbours of
the history, EASE's modelled items, the history itself), ``mass * prior`` a rank-one
prior (next-best-offer's shrinkage, or the popularity list itself) and ``tie`` the
popularity tie-breaker. An item without evidence scores ``mass[u] * prior[j] + tie[j]``,
so only the evidence items and a prefix of the shared fallback order can reach a row's
top ``k``: the row's first ``k`` items outside its evidence and excluded items, in the
order by ``prior + tie`` (rows with a positive mass) and in the order by ``tie`` alone
(rows without), both then by the lower position. It equals the dense top
``k`` whenever the prior orders the items the same way for every positive mass (a
popularity-shaped prior, or a mass of one): ``tests/recommend/test_recommend_topk.py``
checks both paths against a sort done in the test.

**Threshold pass.** Most rows of a model with wide evidence (co-occurrence, EASE) never
reach their fallback: the ``(k + e)``-th best of their own evidence (``e`` the row's
excluded items) beats the best score an item without evidence can get
(``mass * max(prior) + max(tie)``). Such a row is ranked from its evidence at or above
that score alone (a linear partition per row, then a sort of about ``k`` entries)
instead of sorting all its evidence and building its fallback; the others take the
general path above (``tests/recommend/test_recommend_topk_threshold.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


def _first_per_row(row: np.ndarray, n_rows: int) -> np.ndarray:
    """Return each entry's rank inside its row (``row`` sorted ascending)."""
    starts = np.searchsorted(row, np.arange(n_rows))
    rank: np.ndarray = np.arange(len(row)) - starts[row]
    return rank


def dense_top(scores: np.ndarray, k: int) -> np.ndarray:
    """Return the positions of the ``k`` best scores of each row (ties: lower position).

    ``scores`` may hold ``-inf`` (excluded items); they come last. ``k`` must not exceed
    the number of columns.
    """
    n, m = scores.shape
    if k >= m:
        ranked: np.ndarray = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return ranked
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(scores, part, axis=1).min(axis=1)
    # Every item tied with the k-th score competes: the rule, not argpartition, decides.
    row, col = np.nonzero(scores >= kth[:, None])
    value = scores[row, col]
    order = np.lexsort((col, -value, row))
    row, col = row[order], col[order]
    keep = _first_per_row(row, n) < k
    top: np.ndarray = col[keep].reshape(n, k)
    return top


@dataclass(frozen=True)
class SparseScores:
    """A block's scores as ``evidence + mass[:, None] * prior[None, :]`` (see the module).

    ``mass`` and ``prior`` are ``None`` together when there is no prior term. ``summed``
    says the evidence is a CSR matrix without duplicate entries (a sparse product's
    output): ranking it then need not sort each row's entries to sum duplicates, about a
    tenth of the refresh's ranking at 1M orders.
    """

    evidence: sp.csr_matrix
    mass: np.ndarray | None = None
    prior: np.ndarray | None = None
    summed: bool = False

    def rows(self, start: int, stop: int) -> SparseScores:
        """Return the scores of rows ``start:stop``."""
        mass = None if self.mass is None else self.mass[start:stop]
        return SparseScores(self.evidence[start:stop], mass, self.prior, self.summed)

    def dense(self) -> np.ndarray:
        """Return the block's scores as a dense array (the dense path's input)."""
        scores = np.asarray(self.evidence.toarray(), dtype=np.float64)
        if self.mass is not None and self.prior is not None:
            scores = scores + np.outer(self.mass, self.prior)
        return scores


@dataclass
class BlockMemo:
    """The sparse scores of the last block of customers a model scored.

    The refresh ranks the ``new`` and ``any`` lists block by block
    (:meth:`~recompra.recommend.served.ServedRecommender.top_k_lists`): their blend and
    ranker rank the same members under different history exclusions, so a member's
    scores of a block (the product of its history and the item-item matrix) are
    computed for the first list and reused by the next. Only for the same customers,
    in the same order: the scores are then the same by construction. The memo also keeps
    the block's ranked evidence (:class:`RankedEvidence`, with the customers' history
    lengths as spare: every exclusion is within the history), so the second list does
    not rank the member's evidence again.
    """

    customers: np.ndarray | None = None
    scores: SparseScores | None = None
    ranked: RankedEvidence | None = None

    def get(self, customers: np.ndarray) -> SparseScores | None:
        """Return the scores kept for exactly ``customers`` (``None`` otherwise)."""
        if self.customers is None or not np.array_equal(self.customers, customers):
            return None
        return self.scores

    def keep(self, customers: np.ndarray, scores: SparseScores) -> None:
        """Keep ``scores`` as those of ``customers`` (a copy of the ids); no ranking yet."""
        self.customers, self.scores = np.array(customers, copy=True), scores
        self.ranked = None


def _keys(matrix: sp.csr_matrix) -> np.ndarray:
    """Return ``row * n_cols + col`` of the stored entries (row-major order)."""
    row = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    keys: np.ndarray = row * matrix.shape[1] + matrix.indices.astype(np.int64)
    return keys


def _distinct(keys: np.ndarray) -> np.ndarray:
    """Return the sorted distinct values of integer ``keys``, as ``np.unique`` does.

    By a sort: NumPy 2's ``np.unique`` (and ``isin`` and ``union1d`` through it) hashes
    the keys, and that hashing was 40 % of the ranking's CPU on a generated store, many
    times the sort of the same keys. Keys already strictly increasing (a canonical CSR
    matrix's) are returned as they are, after one comparison pass.
    """
    if len(keys) < 2 or bool(np.all(keys[1:] > keys[:-1])):
        return keys
    ordered = np.sort(keys)
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    distinct: np.ndarray = ordered[first]
    return distinct


def _member(keys: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """Return whether each of ``keys`` is in ``distinct`` (sorted, no repeats): ``np.isin``
    by binary search, without the hashing of :func:`_distinct`'s docstring."""
    if len(distinct) == 0:
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(distinct, keys), len(distinct) - 1)
    found: np.ndarray = distinct[at] == keys
    return found


def fallback_orders(tie: np.ndarray, prior: np.ndarray | None) -> list[np.ndarray]:
    """Return the item orders a row without evidence follows (see the module docstring)."""
    positions = np.arange(len(tie))
    orders = [np.lexsort((positions, -tie))]
    if prior is not None:
        with_prior = np.lexsort((positions, -(prior + tie)))
        if not np.array_equal(with_prior, orders[0]):
            orders.append(with_prior)
    return orders


def _fallback(order: np.ndarray, skip: np.ndarray, n: int, k: int) -> np.ndarray:
    """Return the keys of each row's first ``k`` items of ``order`` outside ``skip``.

    ``skip`` holds sorted ``row * m + item`` keys. A skipped item of fallback rank ``s``,
    the ``i``-th skipped one of its row by rank, comes before the row's ``k``-th kept
    item exactly when ``s - i < k``; the row's prefix is ``k`` plus their count.
    """
    m = len(order)
    rank_of = np.empty(m, dtype=np.int64)
    rank_of[order] = np.arange(m)
    skip_row, rank = skip // m, rank_of[skip % m]
    by_rank = np.lexsort((rank, skip_row))
    skip_row, rank = skip_row[by_rank], rank[by_rank]
    before = rank - _first_per_row(skip_row, n) < k
    length = np.minimum(k + np.bincount(skip_row[before], minlength=n), m)
    row = np.repeat(np.arange(n, dtype=np.int64), length)
    offset = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
    keys: np.ndarray = row * m + order[offset]
    return keys


#: Row width up to which :func:`_row_kth` sorts its bucket rather than partitioning it:
#: NumPy's vectorised sort of short rows costs less than one partition (measured: 2,000
#: rows of 64 or 256 values sort in 0.6-0.75x a partition's CPU; at 2,048 values, 1.6x).
_SORT_WIDTH = 256


def _row_kth(values: np.ndarray, indptr: np.ndarray, k: int, spare: np.ndarray) -> np.ndarray:
    """Return each CSR row's ``(k + spare[row])``-th largest value (``-inf`` if shorter):
    a lower bound of its ``k``-th largest once ``spare[row]`` of its entries are dropped.

    Rows are padded with ``-inf`` to the longest row of their power-of-two length bucket
    (at most twice the entries) and partitioned at each row's own rank, or sorted when
    the rows are short (:data:`_SORT_WIDTH`): no sort of long rows. Each row's own rank,
    not the bucket's largest, so that one customer with a long history does not lower
    the bound of (and send to the general path) every row of its bucket.
    """
    lengths = np.diff(indptr)
    kth = np.full(len(lengths), -np.inf)
    rank_of = k + np.asarray(spare, dtype=np.int64)
    long_rows = np.flatnonzero(lengths >= rank_of)  # the others have no such entry
    bucket = np.ceil(np.log2(lengths[long_rows])).astype(np.int64)
    for b in np.unique(bucket):
        rows = long_rows[bucket == b]
        size = lengths[rows]
        width = int(size.max())
        pad = np.full((len(rows), width), -np.inf)
        offset = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
        pad[np.repeat(np.arange(len(rows)), size), offset] = values[
            np.repeat(indptr[rows], size) + offset
        ]
        # Ascending, so a row's r-th largest sits at width - r (its -inf pads first).
        at = width - rank_of[rows]
        kths = np.unique(at)
        if width <= _SORT_WIDTH and len(kths) > 1:
            pad.sort(axis=1)
        else:
            pad.partition(kths, axis=1)
        kth[rows] = pad[np.arange(len(rows)), at]
    return kth


@dataclass(frozen=True)
class RankedEvidence:
    """A block's evidence at or above each row's threshold, in the rule's order.

    Built by :func:`rank_evidence` for rows that may lose up to ``spare[row]`` items to
    an exclusion: a row is ``resolved`` when its ``(k + spare)``-th best evidence score
    beats every item without evidence, and then its entries at or above that score, in
    the rule's order, hold its top ``k`` under *any* exclusion of at most ``spare``
    items (drop the excluded ones, keep the first ``k``). The refresh ranks a member's
    block under two exclusions, both within the customer's history
    (:class:`BlockMemo`): one partition and one sort serve both.
    """

    k: int
    spare: np.ndarray
    resolved: np.ndarray
    row: np.ndarray
    col: np.ndarray
    positive: np.ndarray

    def serves(self, excluded: sp.csr_matrix, k: int) -> bool:
        """Whether these entries decide the top ``k`` of the rows under ``excluded``."""
        return self.k == k and bool(np.all(np.diff(excluded.indptr) <= self.spare))


def _canonical(scores: SparseScores) -> sp.csr_matrix:
    """Return the evidence as CSR with its duplicate entries summed (in place if CSR)."""
    matrix = scores.evidence.tocsr()
    if not scores.summed:
        matrix.sum_duplicates()
    return matrix


def rank_evidence(
    scores: SparseScores, tie: np.ndarray, spare: np.ndarray, k: int
) -> RankedEvidence:
    """Rank the evidence of the rows it decides whatever ``spare`` items they lose.

    A row's ``(k + spare)``-th best evidence score is a lower bound of its ``k``-th best
    score once at most ``spare`` of its items are excluded. Where it is above the best
    score an item without evidence can reach (``mass * prior + tie`` at its maximum), no
    such item enters the row's top ``k`` and only the evidence at or above that bound
    competes: those few entries are sorted by the rule, without building the row's
    fallback. The other rows are left to :func:`sparse_top`'s general path.
    """
    evidence = _canonical(scores)
    n = evidence.shape[0]
    lengths = np.diff(evidence.indptr)
    col = evidence.indices
    full = np.asarray(evidence.data, dtype=np.float64)
    reach = np.full(n, tie.max())
    mass, prior = scores.mass, scores.prior
    if mass is not None and prior is not None:
        full = full + np.repeat(mass, lengths) * prior[col]
        reach = reach + np.maximum(mass * prior.max(), mass * prior.min())
    full = full + tie[col]
    kth = _row_kth(full, evidence.indptr, k, spare)
    resolved: np.ndarray = kth > reach
    keep = np.flatnonzero(full >= np.repeat(np.where(resolved, kth, np.inf), lengths))
    row = np.searchsorted(evidence.indptr, keep, side="right").astype(np.int64) - 1
    col_kept = col[keep].astype(np.int64)
    value = np.asarray(evidence.data[keep], dtype=np.float64)
    if mass is not None and prior is not None:
        value = value + mass[row] * prior[col_kept]
    order = np.lexsort((col_kept, -full[keep], row))
    return RankedEvidence(
        k, np.array(spare, copy=True), resolved, row[order], col_kept[order], value[order] > 0
    )


def _take_ranked(
    ranked: RankedEvidence,
    excluded: sp.csr_matrix,
    k: int,
    out: np.ndarray,
    evidence_only: bool,
) -> None:
    """Write the resolved rows' top ``k`` under ``excluded`` into ``out``.

    Dropping the excluded entries keeps the others in the rule's order, so each row's
    first ``k`` survivors are its top ``k``.
    """
    n, m = excluded.shape
    row, col, positive = ranked.row, ranked.col, ranked.positive
    allowed = ~_member(row * m + col, _distinct(_keys(excluded)))
    row, col, positive = row[allowed], col[allowed], positive[allowed]
    rank = _first_per_row(row, n)
    top = rank < k
    position = np.where(positive[top], col[top], -1) if evidence_only else col[top]
    out[row[top], rank[top]] = position


def _threshold_top(
    scores: SparseScores,
    tie: np.ndarray,
    excluded: sp.csr_matrix,
    k: int,
    out: np.ndarray,
    evidence_only: bool,
) -> np.ndarray:
    """Rank the rows whose top ``k`` is decided by their evidence alone; return which.

    :func:`rank_evidence` with the row's excluded items as its spare, then
    :func:`_take_ranked`.
    """
    ranked = rank_evidence(scores, tie, np.diff(excluded.indptr), k)
    _take_ranked(ranked, excluded, k, out, evidence_only)
    return ranked.resolved


def sparse_top(
    scores: SparseScores,
    tie: np.ndarray,
    excluded: sp.csr_matrix,
    k: int,
    orders: list[np.ndarray],
    *,
    evidence_only: bool = False,
    ranked: RankedEvidence | None = None,
    threshold: bool = True,
) -> np.ndarray:
    """Return the top-``k`` positions per row (``-1`` pads), as :func:`dense_top` would.

    Parameters
    ----------
    scores
        The block's scores (sparse evidence plus a rank-one prior).
    tie
        The tie-breaker added to every score (``1e-6 * popularity``).
    excluded
        Items each row may not get (same shape; any stored entry excludes).
    k
        List length.
    orders
        :func:`fallback_orders` of ``tie`` and ``scores.prior``.
    evidence_only
        Positions whose score without the tie-breaker is not positive become ``-1`` (the
        list is not refilled, as in the dense path).
    ranked
        :func:`rank_evidence` of these same ``scores``, ``tie`` and ``k``, with a spare
        of at least each row's excluded items (else it is not used): the threshold pass
        is then taken from it instead of being computed.
    threshold
        Whether to try the threshold pass at all (``False``: every row takes the general
        path; for rows a pass with their own spare already left undecided).
    """
    evidence = _canonical(scores)
    n, m = evidence.shape
    out = np.full((n, k), -1, dtype=np.int64)
    if n == 0 or m == 0 or k <= 0:
        return out
    ex = excluded.tocsr()
    if not threshold:
        resolved = np.zeros(n, dtype=bool)
    elif ranked is not None and ranked.serves(ex, k):
        _take_ranked(ranked, ex, k, out, evidence_only)
        resolved = ranked.resolved
    else:
        resolved = _threshold_top(
            SparseScores(evidence, scores.mass, scores.prior, True), tie, ex, k, out, evidence_only
        )
    if resolved.all():
        return out
    if resolved.any():
        # The rows the threshold did not decide go through the general path below, with
        # no second pass: with each row's own spare (the bound is per row, _row_kth) it
        # decides nothing more; after a shared ranking (a larger spare) it may decide a
        # few rows, but cost more than it saved (measured on a generated store).
        rest = np.flatnonzero(~resolved)
        mass = None if scores.mass is None else scores.mass[rest]
        out[rest] = sparse_top(
            SparseScores(evidence[rest], mass, scores.prior, True),
            tie,
            ex[rest],
            k,
            orders,
            evidence_only=evidence_only,
            threshold=False,
        )
        return out
    ex_keys = _distinct(_keys(ex))
    e_keys = _keys(evidence)  # no repeats (summed), not necessarily sorted
    skip = _distinct(np.concatenate([e_keys, ex_keys]))  # scored as evidence, or excluded
    e_keep = ~_member(e_keys, ex_keys)
    e_keys, e_val = e_keys[e_keep], evidence.data[e_keep]
    fill = _distinct(np.concatenate([_fallback(order, skip, n, k) for order in orders]))
    fill = fill[~_member(fill, skip)]
    keys = np.concatenate([e_keys, fill])
    value = np.concatenate([e_val, np.zeros(len(fill))])
    row, col = keys // m, keys % m
    if scores.mass is not None and scores.prior is not None:
        value = value + scores.mass[row] * scores.prior[col]
    valid = value > 0 if evidence_only else np.ones(len(value), dtype=bool)
    value = value + tie[col]
    order = np.lexsort((col, -value, row))
    row, col, valid = row[order], col[order], valid[order]
    rank = _first_per_row(row, n)
    top = rank < k
    out[row[top], rank[top]] = np.where(valid[top], col[top], -1)
    return out
