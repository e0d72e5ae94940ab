"""EASE: a linear item-item model with closed-form training (Steck, WWW 2019).

With ``X`` the binary customer x item matrix of the training period, EASE learns the
item-item weights ``B`` minimising ``||X - X B||^2 + l2 ||B||^2`` subject to
``diag(B) = 0`` (an item may not predict itself). The solution is closed-form::

    P = (X^T X + l2 I)^-1,      B = -P / diag(P)  (column-wise),  diag(B) = 0

and a customer's scores are ``x_u B``. Unlike co-occurrence, the weights are learned
jointly, so an item that merely co-occurs with everything gets little weight.

The inverse is dense (items x items), so only the ``max_items`` most bought items are
modelled (the long tail cannot be learned from a handful of buyers anyway); the others
score 0 and are ordered by popularity. ``l2`` is chosen per store on the validation
slice (:mod:`recompra.recommend.selection`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recompra.recommend.base import BaseRecommender, Exclude
from recompra.recommend.sql import Level
from recompra.recommend.topk import SparseScores

if TYPE_CHECKING:
    import scipy.sparse as sp


class Ease(BaseRecommender):
    """EASE item-item model (see the module docstring).

    Parameters
    ----------
    level
        ``"product"`` or ``"category"``.
    l2
        Ridge penalty ``lambda``.
    max_items
        Items modelled (the most bought ones); bounds the ``max_items**2`` memory.
    """

    default_exclude: Exclude = "none"

    def __init__(self, level: Level = "product", *, l2: float = 100.0, max_items: int = 1000):
        super().__init__(level)
        self.l2 = l2
        self.max_items = max_items

    def _fit_model(self, lines: pd.DataFrame) -> None:
        # Imported here: scipy is slow to import and the API server imports this package
        # (for its read model) without ever fitting (issue 20).
        import scipy.linalg as la

        order = np.argsort(-self.popularity_, kind="stable")
        modelled = np.sort(order[: self.max_items])
        self.modelled_: np.ndarray = modelled
        binary = self.history_[:, modelled].tocsr()
        binary.data[:] = 1.0
        gram = np.asarray((binary.T @ binary).toarray(), dtype=np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        inverse = la.inv(gram, overwrite_a=True, check_finite=False)
        weights = -inverse / np.diag(inverse)
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights_: np.ndarray = weights

    def _scores(self, history: sp.csr_matrix, customer_ids: np.ndarray) -> np.ndarray:
        # The dense path (a dense model): the same values as _sparse_scores, no CSR detour.
        binary = history[:, self.modelled_].tocsr()
        binary.data[:] = 1.0
        scores = np.zeros(history.shape, dtype=np.float64)
        scores[:, self.modelled_] = np.asarray(binary @ self.weights_)
        return scores

    def _sparse_scores(self, history: sp.csr_matrix, customer_ids: np.ndarray) -> SparseScores:
        # Only the modelled items score; a zero score is no evidence (ranked as one).
        import scipy.sparse as sp

        binary = history[:, self.modelled_].tocsr()
        binary.data[:] = 1.0
        modelled = sp.csr_matrix(np.asarray(binary @ self.weights_))
        evidence = sp.csr_matrix(
            (modelled.data, self.modelled_[modelled.indices], modelled.indptr),
            shape=history.shape,
        )
        return SparseScores(evidence)
