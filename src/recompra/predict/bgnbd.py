"""BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

Customers buy as a Poisson process with rate ``lambda ~ Gamma(r, alpha)`` and, after each
repeat purchase, drop out with probability ``p ~ Beta(a, b)``. See
:mod:`recompra.predict._betageo` for the likelihood and the prediction formulas.
"""

from __future__ import annotations

from recompra.predict._betageo import BetaGeoFamily


class BetaGeoModel(BetaGeoFamily):
    """BG/NBD estimator (parameters ``r, alpha, a, b``).

    Parameters
    ----------
    penalizer, tol, max_iter
        The optimiser's hyper-parameters, described in
        :class:`~recompra.predict._base.BTYDModel`.

    Examples
    --------
    >>> model = BetaGeoModel().fit(frequency, recency, T)  # doctest: +SKIP
    >>> model.params_  # doctest: +SKIP
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
    """

    model_name = "bgnbd"
    dropout_at_zero = 0
