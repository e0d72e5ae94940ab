"""Plain-language explanations of a customer's scores (pt-BR and English).

Example: ``"P(alive) is low (12%): last order 210 days ago, and this customer usually
buys every 30 days. Expected orders in the next 365 days: 0.4."``
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

#: P(alive) at or above this is "high"; below ``LOW`` is "low".
HIGH = 0.7
LOW = 0.3

_LEVEL = {
    "en": {"high": "high", "medium": "medium", "low": "low"},
    "pt": {"high": "alta", "medium": "média", "low": "baixa"},
}


def _level(p: float) -> str:
    if p >= HIGH:
        return "high"
    if p < LOW:
        return "low"
    return "medium"


def _num(value: float, lang: str, digits: int = 1) -> str:
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if lang == "pt" else text


def _days(value: float, lang: str) -> str:
    n = round(value)
    if lang == "pt":
        return "1 dia" if n == 1 else f"{n} dias"
    return "1 day" if n == 1 else f"{n} days"


def explain_one(
    p_alive: float,
    days_since_last: float,
    typical_gap_days: float,
    expected_purchases: float,
    horizon_days: float,
    lang: str = "en",
) -> str:
    """Explain one customer's scores in ``lang`` (``"en"`` or ``"pt"``)."""
    level = _LEVEL[lang][_level(p_alive)]
    pct = f"{100 * p_alive:.0f}%"
    since = _days(days_since_last, lang)
    horizon = _days(horizon_days, lang)
    exp = _num(expected_purchases, lang)
    repeat = math.isfinite(typical_gap_days) and typical_gap_days > 0
    if lang == "pt":
        head = f"P(ativo) é {level} ({pct}): último pedido há {since}"
        habit = (
            f", e este cliente costuma comprar a cada {_days(typical_gap_days, 'pt')}"
            if repeat
            else ", e este cliente só comprou uma vez"
        )
        return f"{head}{habit}. Pedidos esperados nos próximos {horizon}: {exp}."
    head = f"P(alive) is {level} ({pct}): last order {since} ago"
    habit = (
        f", and this customer usually buys every {_days(typical_gap_days, 'en')}"
        if repeat
        else ", and this customer has bought only once"
    )
    return f"{head}{habit}. Expected orders in the next {horizon}: {exp}."


def explain(
    p_alive: npt.ArrayLike,
    days_since_last: npt.ArrayLike,
    typical_gap_days: npt.ArrayLike,
    expected_purchases: npt.ArrayLike,
    horizon_days: float,
    lang: str = "en",
) -> list[str]:
    """Vector version of :func:`explain_one` (``typical_gap_days`` NaN for one-time buyers)."""
    if lang not in _LEVEL:
        raise ValueError(f"unsupported language {lang!r}; use 'en' or 'pt'")
    pa = np.asarray(p_alive, dtype=np.float64)
    since = np.asarray(days_since_last, dtype=np.float64)
    gap = np.asarray(typical_gap_days, dtype=np.float64)
    exp = np.asarray(expected_purchases, dtype=np.float64)
    return [
        explain_one(float(a), float(b), float(c), float(d), horizon_days, lang)
        for a, b, c, d in zip(pa, since, gap, exp, strict=True)
    ]
