"""Plain-language explanations of a customer's scores (pt-BR and English).

Example: ``"P(alive) is low (12%): last order 210 days ago, and this customer usually
buys every 30 days. Expected orders in the next 365 days: 0.4."``

An explanation never contradicts the recency it quotes. A model's P(alive) can stay high
after a silence many times the customer's usual gap (a degenerate fit that sees no
dropout, or a heavy buyer's posterior); the level word is then capped by the silence
itself. The caps follow from one assumption, stated here so it can be checked: an
*active* customer keeps buying at their usual rate, so the chance that they stay silent
for ``k`` usual gaps is ``exp(-k)`` (Poisson purchases). A silence that an active
customer would show less than 5% of the time (``k >= ln 20``, about 3 gaps) caps the
level at "medium"; less than 1% of the time (``k >= ln 100``, about 4.6 gaps) at "low".
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

#: P(alive) at or above this is "high"; below ``LOW`` is "low".
HIGH = 0.7
LOW = 0.3
#: Chance that an active customer is this silent, below which the silence is unusual.
UNUSUAL_SILENCE = 0.05
#: ... and below which it is very unusual.
VERY_UNUSUAL_SILENCE = 0.01
#: Silences, in usual gaps, that cap the level at "medium" and at "low".
MEDIUM_CAP_GAPS = math.log(1 / UNUSUAL_SILENCE)
LOW_CAP_GAPS = math.log(1 / VERY_UNUSUAL_SILENCE)
_ORDER = ("low", "medium", "high")

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


def _silence_cap(days_since_last: float, typical_gap_days: float) -> str:
    """The highest level a silence of ``days_since_last`` allows (see the module docstring)."""
    if not (math.isfinite(typical_gap_days) and typical_gap_days > 0):
        return "high"
    gaps = days_since_last / typical_gap_days
    if gaps >= LOW_CAP_GAPS:
        return "low"
    if gaps >= MEDIUM_CAP_GAPS:
        return "medium"
    return "high"


def level(p_alive: float, days_since_last: float, typical_gap_days: float) -> str:
    """``"high"``, ``"medium"`` or ``"low"``: P(alive)'s level, capped by the silence."""
    by_model = _level(p_alive)
    cap = _silence_cap(days_since_last, typical_gap_days)
    return min(by_model, cap, key=_ORDER.index)


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
    final = level(p_alive, days_since_last, typical_gap_days)
    word = _LEVEL[lang][final]
    pct = f"{100 * p_alive:.0f}%"
    since = _days(days_since_last, lang)
    horizon = _days(horizon_days, lang)
    exp = _num(expected_purchases, lang)
    repeat = math.isfinite(typical_gap_days) and typical_gap_days > 0
    if final != _level(p_alive):
        # the silence overrides the model: say how unusual it is and why the number differs
        gap = _days(typical_gap_days, lang)
        times = _num(days_since_last / typical_gap_days, lang)
        if lang == "pt":
            return (
                f"P(ativo) é {word}: último pedido há {since}, {times} vezes o intervalo "
                f"habitual deste cliente ({gap}); os {pct} do modelo não levam em conta um "
                f"silêncio tão longo. Pedidos esperados nos próximos {horizon}: {exp}."
            )
        return (
            f"P(alive) is {word}: last order {since} ago, {times} times this customer's "
            f"usual gap of {gap}; the model's {pct} does not account for such a long "
            f"silence. Expected orders in the next {horizon}: {exp}."
        )
    if lang == "pt":
        head = f"P(ativo) é {word} ({pct}): último pedido há {since}"
        habit = (
            f", e este cliente costuma comprar a cada {_days(typical_gap_days, 'pt')}"
            if repeat
            else ", e este cliente só comprou uma vez"
        )
        return f"{head}{habit}. Pedidos esperados nos próximos {horizon}: {exp}."
    head = f"P(alive) is {word} ({pct}): last order {since} ago"
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


#: Display names of the models and baselines in selection reasons.
_MODEL_LABELS = {
    "en": {
        "bgnbd": "BG/NBD",
        "pareto": "Pareto/NBD",
        "mbgnbd": "MBG/NBD",
        "recency": "the recency table",
        "rfm_gbm": "gradient boosting on RFM",
        "same_rate": "'same rate as before'",
    },
    "pt": {
        "bgnbd": "BG/NBD",
        "pareto": "Pareto/NBD",
        "mbgnbd": "MBG/NBD",
        "recency": "a tabela de recência",
        "rfm_gbm": "gradient boosting sobre RFM",
        "same_rate": "'mesmo ritmo de antes'",
    },
}


def _label(name: str, lang: str) -> str:
    return _MODEL_LABELS[lang].get(name, name)


def explain_selection(
    *,
    chosen: str,
    chosen_mae: float,
    best_btyd: str,
    btyd_mae: float,
    best_baseline: str,
    baseline_mae: float,
    lang: str = "en",
) -> str:
    """Why ``chosen`` serves the scores, in ``lang``: never hides a loss to a baseline.

    The MAEs are per-customer holdout errors of the store's own back-test; a baseline is
    ``same_rate`` or a time-split model (see :mod:`recompra.predict.empirical`).
    """
    en = lang == "en"
    mae = {
        k: _num(v, lang, 3) for k, v in (("c", chosen_mae), ("m", btyd_mae), ("b", baseline_mae))
    }
    btyd, base, served = _label(best_btyd, lang), _label(best_baseline, lang), _label(chosen, lang)
    if btyd_mae < baseline_mae:
        margin = _num(baseline_mae - btyd_mae, lang, 3)
        if en:
            return (
                f"{btyd} has the lowest holdout MAE ({mae['m']}) and beats the best "
                f"baseline, {base} ({mae['b']}), by {margin}."
            )
        return (
            f"{btyd} tem o menor MAE no período de teste ({mae['m']}) e supera a melhor "
            f"referência, {base} ({mae['b']}), por {margin}."
        )
    if en:
        parts = [
            f"Every BTYD model loses to the baselines on this store's back-test (best model: "
            f"{btyd}, MAE {mae['m']}; best baseline: {base}, MAE {mae['b']})."
        ]
        parts.append(
            f"Serving {served} instead (MAE {mae['c']})."
            if chosen != best_btyd
            else f"No servable baseline does better, so {btyd} is served anyway."
        )
        if baseline_mae < chosen_mae:
            parts.append(
                f"{base} is a reference, not a servable model; the served one loses to it "
                f"by {_num(chosen_mae - baseline_mae, lang, 3)}."
            )
        return " ".join(parts)
    parts = [
        f"Todos os modelos BTYD perdem para as referências no back-test desta loja (melhor "
        f"modelo: {btyd}, MAE {mae['m']}; melhor referência: {base}, MAE {mae['b']})."
    ]
    parts.append(
        f"Usando {served} no lugar (MAE {mae['c']})."
        if chosen != best_btyd
        else f"Nenhuma referência utilizável é melhor, então {btyd} é usado mesmo assim."
    )
    if baseline_mae < chosen_mae:
        parts.append(
            f"{base} é uma referência, não um modelo utilizável; o modelo usado perde para "
            f"ela por {_num(chosen_mae - baseline_mae, lang, 3)}."
        )
    return " ".join(parts)
