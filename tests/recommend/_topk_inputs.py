"""Random sparse evidence for the top-k tests: the shapes their paths must meet."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def random_evidence(rng: np.random.Generator, n: int, m: int) -> sp.csr_matrix:
    """``n`` x ``m`` evidence with row densities from 0 to 0.9 (short rows need the
    fallback, long ones do not) and few distinct values from -1 to 3 (exact ties at the
    k-th score; negatives rank below the fallback)."""
    density = rng.uniform(0.0, 0.9, n)
    mask = rng.random((n, m)) < density[:, None]
    values = rng.integers(-1, 4, (n, m)).astype(np.float64)
    return sp.csr_matrix(np.where(mask, values, 0.0))
