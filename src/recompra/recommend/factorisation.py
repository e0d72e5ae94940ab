"""Implicit-feedback matrix factorisation (ALS, Hu, Koren and Volinsky, ICDM 2008).

The customer x item matrix ``R`` (distinct orders holding the item) is read as
*confidence* ``c_ui = 1 + alpha * r_ui`` that the customer likes the item (``p_ui = 1``
where ``r_ui > 0``, else 0). Alternating least squares learns customer factors ``x_u``
and item factors ``y_i`` minimising::

    sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + l2 (sum_u |x_u|^2 + sum_i |y_i|^2)

and a customer's scores are ``x_u . y_i``. Unlike co-occurrence or EASE, every customer
and item is summarised by ``factors`` numbers, so two items never bought together can
still be close when similar customers buy them. The solver is the ``implicit`` library's
(conjugate-gradient ALS, Takács et al. 2011), on the CPU: its own ``num_threads`` work on
separate customers, and the BLAS underneath is held to one thread (``threadpoolctl``),
as ``implicit`` recommends, so the two do not oversubscribe the cores.

Customers unknown to the fitted model (no training purchase) score 0 everywhere and get
the popularity order (the tie-break of :class:`~recompra.recommend.recommenders.
BaseRecommender`), i.e. the cold-start list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recompra.recommend.recommenders import BaseRecommender, Exclude
from recompra.recommend.sql import Level

if TYPE_CHECKING:
    import scipy.sparse as sp

#: Threads of the ALS solver (the machines we serve from have two cores).
ALS_THREADS = 2


class ImplicitAls(BaseRecommender):
    """Implicit-feedback ALS (see the module docstring).

    Parameters
    ----------
    level
        ``"product"`` or ``"category"``.
    factors
        Latent dimensions.
    l2
        Ridge penalty on both factor matrices.
    alpha
        Confidence gained per order holding the item.
    iterations
        ALS sweeps (customers, then items).
    seed
        Seed of the random initial factors (fits are reproducible).
    """

    default_exclude: Exclude = "none"

    def __init__(
        self,
        level: Level = "product",
        *,
        factors: int = 32,
        l2: float = 0.1,
        alpha: float = 10.0,
        iterations: int = 15,
        seed: int = 0,
    ) -> None:
        super().__init__(level)
        self.factors = factors
        self.l2 = l2
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed

    def _fit_model(self, lines: pd.DataFrame) -> None:
        # Imported here: implicit and threadpoolctl are only needed to fit, and the API
        # server imports this package (for its read model) without ever fitting.
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        # implicit checks the BLAS threads when the model is built: limit them first.
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.l2,
                alpha=self.alpha,
                iterations=self.iterations,
                num_threads=ALS_THREADS,
                random_state=self.seed,
            )
            model.fit(self.history_.astype(np.float32).tocsr(), show_progress=False)
        self.customer_factors_: np.ndarray = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_: np.ndarray = np.asarray(model.item_factors, dtype=np.float64)

    def _scores(self, history: sp.csr_matrix, customer_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(customer_ids, dtype=np.int64)
        scores = np.zeros((len(ids), self.index_.size), dtype=np.float64)
        if len(self.customers_) == 0:
            return scores
        pos = np.clip(np.searchsorted(self.customers_, ids), 0, len(self.customers_) - 1)
        known = self.customers_[pos] == ids
        scores[known] = self.customer_factors_[pos[known]] @ self.item_factors_.T
        return scores
