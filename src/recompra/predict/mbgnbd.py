"""MBG/NBD model (Batislam, Denizel & Filiztekin 2007; BTYDplus ``mbgnbd``).

Like BG/NBD, but a customer may also drop out right after the *first* purchase, so a
one-time buyer who has been silent for long is not assumed to be alive (the BG/NBD
assumes P(alive) = 1 whenever ``frequency == 0``).
"""

from __future__ import annotations

from recompra.predict._betageo import BetaGeoFamily


class ModifiedBetaGeoModel(BetaGeoFamily):
    """MBG/NBD estimator (parameters ``r, alpha, a, b``).

    Parameters
    ----------
    penalizer, tol, max_iter
        The optimiser's hyper-parameters, described in
        :class:`~recompra.predict._base.BTYDModel`.
    """

    model_name = "mbgnbd"
    dropout_at_zero = 1
