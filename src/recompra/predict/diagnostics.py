"""Plain-language warnings about degenerate BTYD fits (pt-BR and English).

A maximum-likelihood fit can be "successful" and still useless for decisions: on stores
where almost nobody is seen to leave, BG/NBD drives ``a`` to 0 or ``b`` to thousands and
Pareto/NBD drives ``s`` to 0 or ``beta`` to infinity. The model then believes every
customer is still active, and ``P(alive)`` stays near 100% after a year of silence. These
checks look at what the fitted parameters *mean* (how many new customers the model
expects to still be active at the end of the longest observed history) and at
parameters pushed to the edge of what the optimiser can represent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import beta as beta_dist

#: A model expecting at least this share of new customers to survive the longest observed
#: history sees (almost) no dropout.
NO_DROPOUT_SHARE = 0.98
#: BG/MBG: mean chance of leaving after a purchase, ``a/(a+b)``, below this is "none".
NO_DROPOUT_PER_PURCHASE = 1e-3
#: Parameters beyond these values sit at the edge of the log-parameter search space.
BOUNDARY_LOW = 1e-6
BOUNDARY_HIGH = 1e6
#: Midpoints of equal-probability cells used to average over the Beta(a, b) dropout law.
_QUANTILES = (np.arange(2000) + 0.5) / 2000


@dataclass(frozen=True)
class FitWarning:
    """One finding about a fit: a stable ``code`` and the same message in both languages."""

    code: str
    message_en: str
    message_pt: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def share_still_active(params: dict[str, float], dropout_at_zero: int, age: float) -> float:
    """Share of new customers the model expects to still be active at ``age``.

    Pareto/NBD: ``(beta/(beta+age))**s``. BG/NBD and MBG/NBD: a customer with rate
    ``lambda`` and dropout chance ``p`` survives the Poisson(``lambda * age``) purchases
    (and, for MBG/NBD, the first one) with probability ``(1-p)**m exp(-lambda p age)``;
    averaged over ``lambda ~ Gamma(r, alpha)`` this is ``(1-p)**m (alpha/(alpha+p age))**r``,
    then averaged over ``p ~ Beta(a, b)`` on a quantile grid.
    """
    if "s" in params:
        return float((params["beta"] / (params["beta"] + age)) ** params["s"])
    p = beta_dist.ppf(_QUANTILES, params["a"], params["b"])
    survive = (1 - p) ** dropout_at_zero * (params["alpha"] / (params["alpha"] + p * age)) ** (
        params["r"]
    )
    return float(np.mean(survive))


def fit_warnings(
    params: dict[str, float],
    standard_errors: dict[str, float],
    *,
    dropout_at_zero: int,
    longest_age: float,
) -> list[FitWarning]:
    """Warnings about a fitted BTYD model (empty when nothing looks degenerate).

    Parameters
    ----------
    params, standard_errors
        The fitted parameters (``r, alpha, a, b`` or ``r, alpha, s, beta``) and their SEs.
    dropout_at_zero
        1 for MBG/NBD (dropout possible after the first purchase), else 0.
    longest_age
        The longest customer age ``T`` in the fitted data (model time units).
    """
    found: list[FitWarning] = []
    share = share_still_active(params, dropout_at_zero, longest_age)
    per_purchase = params["a"] / (params["a"] + params["b"]) if "a" in params else None
    if share >= NO_DROPOUT_SHARE or (
        per_purchase is not None and per_purchase < NO_DROPOUT_PER_PURCHASE
    ):
        pct = f"{100 * share:.1f}%"
        found.append(
            FitWarning(
                "no_dropout",
                f"Degenerate fit: the model sees almost no customer leaving. It expects "
                f"{pct} of new customers to still be active at the end of the longest "
                f"history in the data, so P(alive) stays near 100% even after long "
                f"silences. Do not use P(alive) to choose whom to win back; compare the "
                f"model with the baselines of the back-test.",
                f"Ajuste degenerado: o modelo quase não vê clientes saindo. Ele espera que "
                f"{pct.replace('.', ',')} dos novos clientes ainda estejam ativos no fim do "
                f"histórico mais longo dos dados, então a P(ativo) fica perto de 100% mesmo "
                f"após longos silêncios. Não use a P(ativo) para escolher quem reconquistar; "
                f"compare o modelo com as referências do back-test.",
            )
        )
    for name, value in params.items():
        if BOUNDARY_LOW < value < BOUNDARY_HIGH:
            continue
        value_pt = f"{value:.3g}".replace(".", ",")
        side_en, side_pt = ("near zero", "perto de zero")
        if value >= BOUNDARY_HIGH:
            side_en, side_pt = ("huge", "enorme")
        found.append(
            FitWarning(
                f"boundary_{name}",
                f"Parameter {name} = {value:.3g} is {side_en}, at the edge of what the fit "
                f"can reach: the data do not pin it down, and predictions that depend on "
                f"it are unreliable.",
                f"O parâmetro {name} = {value_pt} é {side_pt}, no limite do que o ajuste "
                f"alcança: os dados não o determinam, e as previsões que dependem dele não "
                f"são confiáveis.",
            )
        )
    if any(not np.isfinite(se) for se in standard_errors.values()):
        found.append(
            FitWarning(
                "not_identified",
                "Some parameters are not identified (their standard errors could not be "
                "computed): several parameter values explain the data equally well.",
                "Alguns parâmetros não são identificáveis (os erros-padrão não puderam ser "
                "calculados): vários valores explicam os dados igualmente bem.",
            )
        )
    return found
