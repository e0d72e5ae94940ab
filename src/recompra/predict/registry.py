"""Model names used by the pipeline, the CLI and the score tables."""

from __future__ import annotations

from recompra.predict._base import BTYDModel
from recompra.predict.bgnbd import BetaGeoModel
from recompra.predict.mbgnbd import ModifiedBetaGeoModel
from recompra.predict.paretonbd import ParetoNBDModel

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
