"""Model names used by the pipeline, the CLI and the score tables."""

from __future__ import annotations

from recompra.predict._base import BTYDModel, ScoringModel
from recompra.predict.bgnbd import BetaGeoModel
from recompra.predict.empirical import TIME_SPLIT_MODELS
from recompra.predict.mbgnbd import ModifiedBetaGeoModel
from recompra.predict.paretonbd import ParetoNBDModel
from recompra.predict.rfm import RFMSummary, Transactions

#: The buy-till-you-die models (fitted on the calibration summary alone).
MODELS: dict[str, type[BTYDModel]] = {
    "bgnbd": BetaGeoModel,
    "pareto": ParetoNBDModel,
    "mbgnbd": ModifiedBetaGeoModel,
}


def make_model(name: str) -> BTYDModel:
    """A new, unfitted transaction model by name (``bgnbd``, ``pareto``, ``mbgnbd``)."""
    try:
        return MODELS[name]()
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None


def fit_model(
    name: str, transactions: Transactions, summary: RFMSummary, *, horizon_days: int
) -> ScoringModel:
    """Fit the model ``name`` for the customers of ``summary``.

    BTYD models are fitted on the summary; the time-split models (``recency``,
    ``rfm_gbm``) learn from ``transactions`` up to the summary's calibration end, with a
    training window of ``horizon_days`` (see :mod:`recompra.predict.empirical`).
    """
    if name in TIME_SPLIT_MODELS:
        return TIME_SPLIT_MODELS[name]().fit_history(
            transactions,
            end_day=summary.calibration_end_day,
            time_unit_days=summary.time_unit_days,
            horizon_days=horizon_days,
        )
    return make_model(name).fit(summary.frequency, summary.recency, summary.T)
