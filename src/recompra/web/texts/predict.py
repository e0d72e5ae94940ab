"""Dashboard strings of the models page's honest comparison (key -> (pt-BR, en)).

The back-test writes codes and numbers (baseline names, the chosen model's margin over
the best baseline, fit-warning codes); these sentences turn them into plain words.
"""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "predict.baselines": ("Referências (mesmos clientes)", "Baselines (same customers)"),
    "predict.baseline.same_rate": ("ingênua: mesmo ritmo de antes", "naive: same rate as before"),
    "predict.baseline.recency": ("tabela de recência", "recency table"),
    "predict.baseline.rfm_gbm": ("boosting em RFM", "boosting on RFM"),
    "predict.verdict.wins": (
        "O modelo escolhido vence todas as referências: MAE {mae} contra {best_mae} da "
        "melhor referência (“{baseline}”).",
        "The chosen model beats every baseline: MAE {mae} against {best_mae} for the best "
        "baseline (“{baseline}”).",
    ),
    "predict.verdict.loses": (
        "Atenção: o modelo escolhido erra mais do que a referência “{baseline}” (MAE {mae} "
        "contra {best_mae}). Use as previsões com cautela.",
        "Warning: the chosen model misses more than the “{baseline}” baseline (MAE {mae} "
        "against {best_mae}). Use its predictions with care.",
    ),
    "predict.warnings": ("Avisos sobre os ajustes", "Warnings about the fits"),
    "predict.warning.no_dropout": (
        "{model}: ajuste degenerado, o modelo quase não vê clientes saindo. A P(ativo) fica "
        "perto de 100% mesmo após longos silêncios; não a use para escolher quem "
        "reconquistar.",
        "{model}: degenerate fit, the model sees almost no customer leaving. P(alive) stays "
        "near 100% even after long silences; do not use it to choose whom to win back.",
    ),
    "predict.warning.boundary": (
        "{model}: o parâmetro {parameter} está no limite do que o ajuste alcança; os dados "
        "não o determinam e as previsões que dependem dele não são confiáveis.",
        "{model}: parameter {parameter} sits at the edge of what the fit can reach; the "
        "data do not pin it down and predictions that depend on it are unreliable.",
    ),
    "predict.warning.not_identified": (
        "{model}: alguns parâmetros não são identificáveis; vários valores explicam os "
        "dados igualmente bem.",
        "{model}: some parameters are not identified; several values explain the data "
        "equally well.",
    ),
}
