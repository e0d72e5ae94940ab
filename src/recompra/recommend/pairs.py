"""Co-purchase pair counts from (basket, item) rows by sorting integer keys.

The in-process path of :func:`recompra.recommend.cooccurrence.copurchase_on`: the engine
returns the basket lines of :func:`~recompra.recommend.sql.baskets_sql` (the one
definition of which lines count, without its ``DISTINCT``), and the counts are the upper
triangle of ``XᵀX`` for the binary basket x item matrix ``X``, computed here without
building ``X``:

1. each line becomes one ``int64`` key, ``basket code << bits | item code``, with item
   codes in item id order; one sort puts every basket's items together and in order,
   and dropping repeated keys makes the lines distinct (``X`` binary);
2. the per-item basket counts ``n_a`` are the item codes' counts (``X``'s column sums,
   the diagonal of ``XᵀX``) and ``n_baskets`` the number of distinct basket codes;
3. the pairs ``a < b`` of a basket are the (position ``p``, position ``p + d``) items of
   the sorted run, one vectorised step per distance ``d``; a pair key ``a << bits | b``
   per occurrence, sorted again, gives ``n_ab`` by run length.

The work is a sort of the lines and a sort of the pair occurrences (the ``x.item_id <
y.item_id`` rows of the SQL self-join), with no hash tables. The measures follow
:data:`~recompra.recommend.sql.PAIRS_SQL` operation by operation (the same IEEE
divisions and square root, so the same doubles); the tests compare both row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

#: Bits a combined key may use (``int64`` keys stay positive).
_KEY_BITS = 62
#: Item ids are used as codes (minus the smallest) when their span is at most this many
#: times the number of lines; sparser ids are ranked with ``numpy.unique`` first.
_DENSE_SPAN_FACTOR = 4
#: Pair occurrences buffered before they are reduced to (key, count): bounds the memory
#: of customer baskets, whose pairs grow with the square of a customer's distinct items.
PAIR_BUFFER = 1 << 25


@dataclass(frozen=True)
class PairCounts:
    """Distinct-basket counts of item pairs.

    Attributes
    ----------
    item_a, item_b
        Item ids of each pair, ``item_a < item_b``.
    n_ab
        Baskets holding both.
    n_a, n_b
        Baskets holding ``item_a`` and ``item_b``.
    n_baskets
        Baskets with at least one line, single-item ones included.
    """

    item_a: np.ndarray
    item_b: np.ndarray
    n_ab: np.ndarray
    n_a: np.ndarray
    n_b: np.ndarray
    n_baskets: int


def _codes(values: np.ndarray, max_span: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(codes, ids)``: codes ``0..len(ids)-1`` in id order, ``ids[code]`` the id."""
    low, high = int(values.min()), int(values.max())
    if high - low < max_span:
        return values - low, np.arange(low, high + 1, dtype=np.int64)
    ids, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64, copy=False), ids


def _run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """Return the positions where a new value starts in a sorted, non-empty array."""
    starts = np.empty(len(sorted_values), dtype=bool)
    starts[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=starts[1:])
    return np.flatnonzero(starts)


def _reduce(keys: np.ndarray, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct ``keys`` (sorted) and their occurrences (or summed ``counts``)."""
    if counts is None:
        keys = np.sort(keys, kind="stable")
        starts = _run_starts(keys)
        return keys[starts], np.diff(np.append(starts, len(keys)))
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = _run_starts(keys)
    return keys[starts], np.add.reduceat(counts[order], starts)


def _pair_keys(
    same: np.ndarray, cols: np.ndarray, bits: int, buffer_size: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return the pair keys of every basket as reduced ``(keys, counts)`` chunks.

    ``same[p]`` says whether line ``p + 1`` is in line ``p``'s basket; ``cols`` holds
    the sorted lines' item codes, in order inside each basket.
    """
    chunks: list[tuple[np.ndarray, np.ndarray]] = []
    buffer: list[np.ndarray] = []
    buffered = 0
    starts = np.flatnonzero(same)  # lines with a partner at distance 1
    distance = 1
    while len(starts):
        keys = (cols[starts] << bits) | cols[starts + distance]
        buffer.append(keys)
        buffered += len(keys)
        if buffered >= buffer_size:
            chunks.append(_reduce(np.concatenate(buffer)))
            buffer, buffered = [], 0
        # p and p + d + 1 share a basket when p and p + d do and p + d and p + d + 1 do.
        starts = starts[starts + distance < len(same)]
        starts = starts[same[starts + distance]]
        distance += 1
    if buffer:
        chunks.append(_reduce(np.concatenate(buffer)))
    return chunks


def count_pairs(
    basket_ids: np.ndarray,
    item_ids: np.ndarray,
    min_pair_count: int = 1,
    *,
    buffer: int = PAIR_BUFFER,
) -> PairCounts:
    """Count the item pairs of (basket, item) lines, repeated lines counted once.

    Parameters
    ----------
    basket_ids, item_ids
        One entry per line, integers without nulls (a line may repeat).
    min_pair_count
        Keep pairs seen together in at least this many baskets.
    buffer
        Pair occurrences held before they are reduced to distinct pairs and counts
        (``8 * buffer`` bytes and the sort's copy).

    Returns
    -------
    PairCounts
        The pairs (in item order) with their counts.
    """
    if min_pair_count < 1:
        raise ValueError("min_pair_count must be >= 1")
    baskets = np.asarray(basket_ids, dtype=np.int64)
    items = np.asarray(item_ids, dtype=np.int64)
    if len(items) == 0:
        empty = np.empty(0, dtype=np.int64)
        return PairCounts(empty, empty, empty, empty, empty, 0)
    item_codes, ids = _codes(items, _DENSE_SPAN_FACTOR * len(items) + 1024)
    bits = max(int(len(ids) - 1).bit_length(), 1)
    basket_codes, _ = _codes(baskets, 1 << (_KEY_BITS - bits))
    lines = np.sort((basket_codes << bits) | item_codes, kind="stable")
    del item_codes, basket_codes
    lines = lines[_run_starts(lines)]  # distinct (basket, item)
    rows = lines >> bits
    cols = lines & ((1 << bits) - 1)
    del lines
    n_item = np.bincount(cols, minlength=len(ids))
    same = rows[1:] == rows[:-1]
    n_baskets = len(rows) - int(np.count_nonzero(same))
    del rows
    chunks = _pair_keys(same, cols, bits, buffer)
    del same, cols
    if not chunks:
        keys, n_ab = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    elif len(chunks) == 1:
        keys, n_ab = chunks[0]
    else:
        keys, n_ab = _reduce(
            np.concatenate([k for k, _ in chunks]), np.concatenate([c for _, c in chunks])
        )
    if min_pair_count > 1:
        keep = n_ab >= min_pair_count
        keys, n_ab = keys[keep], n_ab[keep]
    a, b = keys >> bits, keys & ((1 << bits) - 1)
    return PairCounts(
        item_a=ids[a],
        item_b=ids[b],
        n_ab=n_ab.astype(np.int64, copy=False),
        n_a=n_item[a].astype(np.int64, copy=False),
        n_b=n_item[b].astype(np.int64, copy=False),
        n_baskets=n_baskets,
    )


def pairs_table(counts: PairCounts, schema: pa.Schema) -> pa.Table:
    """Return the pairs table of :data:`~recompra.recommend.sql.PAIRS_SQL` from counts.

    Each measure is computed with the statement's operations in its order (``n_ab`` and
    the item counts as doubles), so every value is the same double the SQL gives.
    """
    n_ab = counts.n_ab.astype(np.float64)
    n_a = counts.n_a.astype(np.float64)
    n_b = counts.n_b.astype(np.float64)
    n_baskets = float(counts.n_baskets)
    columns = {
        "item_a": counts.item_a,
        "item_b": counts.item_b,
        "n_ab": counts.n_ab,
        "n_a": counts.n_a,
        "n_b": counts.n_b,
        "n_baskets": np.full(len(n_ab), counts.n_baskets, dtype=np.int64),
        "support": n_ab / n_baskets,
        "confidence_ab": n_ab / n_a,
        "confidence_ba": n_ab / n_b,
        "lift": (n_ab * n_baskets) / (n_a * n_b),
        "cosine": n_ab / np.sqrt(n_a * n_b),
    }
    return pa.Table.from_arrays([pa.array(columns[name]) for name in schema.names], schema=schema)
