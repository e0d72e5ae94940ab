"""Buy-till-you-die models, CLV, churn risk and back-tests (``recompra.predict``).

Estimators follow scikit-learn conventions (hyper-parameters in ``__init__``, ``fit``
returns ``self``, learned state in ``params_``/``log_likelihood_``/``standard_errors_``)
and lifetimes' data conventions (``frequency`` = repeat purchases, ``recency`` = age at
the last purchase, ``T`` = age at the end of the calibration period).

Modules: ``bgnbd``, ``paretonbd``, ``mbgnbd``, ``gammagamma`` (estimators), ``empirical``
(models learned from the store's history by a time split: back-test baselines and the
fallback when every BTYD model loses), ``diagnostics`` (degenerate-fit warnings), ``rfm``
(summaries from transactions), ``clv``, ``explain``, ``churn``, ``backtest``, ``scoring``
(the ``score_customers`` pipeline), ``spark`` (the same scores on Spark), ``simulate``
(samplers from known parameters) and ``cdnow`` (the CDNOW reference data reader).
"""

from recompra.predict._base import ConvergenceError, NotFittedError, check_is_fitted
from recompra.predict.backtest import BacktestResult, backtest
from recompra.predict.bgnbd import BetaGeoModel
from recompra.predict.clv import customer_lifetime_value
from recompra.predict.explain import explain
from recompra.predict.gammagamma import GammaGammaModel
from recompra.predict.mbgnbd import ModifiedBetaGeoModel
from recompra.predict.paretonbd import ParetoNBDModel
from recompra.predict.rfm import RFMSummary, Transactions, summarize, transactions_from_orders
from recompra.predict.scoring import score_customers, score_metadata

__all__ = [
    "BacktestResult",
    "BetaGeoModel",
    "ConvergenceError",
    "GammaGammaModel",
    "ModifiedBetaGeoModel",
    "NotFittedError",
    "ParetoNBDModel",
    "RFMSummary",
    "Transactions",
    "backtest",
    "check_is_fitted",
    "customer_lifetime_value",
    "explain",
    "score_customers",
    "score_metadata",
    "summarize",
    "transactions_from_orders",
]
