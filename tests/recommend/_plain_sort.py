"""The ranking rule by plain sorting: the independent reference the top-k tests compare with."""

from __future__ import annotations

import numpy as np


def plain_sorted_top(scores: np.ndarray, k: int) -> np.ndarray:
    """Score descending, then the lower position; ``-inf`` (excluded) is left out."""
    out = np.full((scores.shape[0], k), -1, dtype=np.int64)
    for r, row in enumerate(scores.tolist()):
        ranked = sorted(
            (j for j in range(len(row)) if row[j] != -np.inf), key=lambda j: (-row[j], j)
        )
        out[r, : min(k, len(ranked))] = ranked[:k]
    return out
