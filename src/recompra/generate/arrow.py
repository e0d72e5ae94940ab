"""Small helpers turning numpy arrays into Arrow columns of the snapshot types."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from recompra.snapshot.schema import TS


def labels(values: Sequence[str], index: npt.NDArray[np.int64]) -> pa.Array:
    """Return the string column ``values[index]``."""
    return pc.take(pa.array(values, pa.string()), pa.array(index, pa.int64()))


def timestamps(us: npt.NDArray[np.int64], missing: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    """Return a UTC microsecond timestamp column, null where ``missing``."""
    if missing is None or not missing.any():
        return pa.array(us, TS)
    return pa.array(us, TS, mask=missing)


def categorical(
    rng: np.random.Generator, probabilities: Sequence[float], n: int
) -> npt.NDArray[np.int64]:
    """Draw ``n`` positions in ``0..len(probabilities)-1`` with the given probabilities."""
    cdf = np.cumsum(np.asarray(probabilities, dtype=np.float64))
    idx = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    out: npt.NDArray[np.int64] = np.minimum(idx, len(probabilities) - 1).astype(np.int64)
    return out


def segment_sum(
    values: npt.NDArray[np.int64], starts: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Sum ``values`` over the non-empty consecutive segments beginning at ``starts``."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.add.reduceat(values, starts).astype(np.int64)
