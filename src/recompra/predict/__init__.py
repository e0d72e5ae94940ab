"""Buy-till-you-die models, CLV, churn risk and back-tests (``recompra.predict``).

Estimators follow scikit-learn conventions (hyper-parameters in ``__init__``, ``fit``
returns ``self``, learned state in ``params_``/``log_likelihood_``/``standard_errors_``)
and lifetimes' data conventions (``frequency`` = repeat purchases, ``recency`` = age at
the last purchase, ``T`` = age at the end of the calibration period).
"""

from recompra.predict._base import ConvergenceError, NotFittedError, check_is_fitted
from recompra.predict.bgnbd import BetaGeoModel
from recompra.predict.gammagamma import GammaGammaModel
from recompra.predict.mbgnbd import ModifiedBetaGeoModel
from recompra.predict.paretonbd import ParetoNBDModel

__all__ = [
    "BetaGeoModel",
    "ConvergenceError",
    "GammaGammaModel",
    "ModifiedBetaGeoModel",
    "NotFittedError",
    "ParetoNBDModel",
    "check_is_fitted",
]
