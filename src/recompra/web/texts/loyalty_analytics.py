"""Dashboard strings of the program analytics section of the loyalty page (pt-BR, en)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "loyalty.analytics.title": ("Indicadores do programa", "Program analytics"),
    "loyalty.analytics.as_of": (
        "Calculados agora, a partir do razão: pontos vencidos não contam como saldo, mesmo "
        "antes da rotina de expiração rodar.",
        "Computed now from the ledger: expired points never count as balance, even before "
        "the expiry job runs.",
    ),
    "loyalty.analytics.redemption_rate": ("Taxa de resgate", "Redemption rate"),
    "loyalty.analytics.breakage": ("Pontos vencidos sem uso", "Breakage"),
    "loyalty.analytics.liability": ("Passivo em pontos", "Liability in points"),
    "loyalty.analytics.liability_money": ("Passivo em R$", "Liability in money"),
    "loyalty.analytics.challenge_completion": ("Conclusão de desafios", "Challenge completion"),
    "loyalty.analytics.quiz_pass_rate": ("Aprovação em quizzes", "Quiz pass rate"),
    "loyalty.analytics.referral_conversion": ("Conversão de indicações", "Referral conversion"),
    "loyalty.analytics.cltv": ("Valor do cliente (CLTV) por nível", "Member CLTV by tier"),
    "loyalty.analytics.tier": ("Nível", "Tier"),
    "loyalty.analytics.members": ("Membros", "Members"),
    "loyalty.analytics.revenue": ("Receita até hoje", "Revenue to date"),
    "loyalty.analytics.cltv_col": ("CLTV médio", "Mean CLTV"),
    "loyalty.analytics.no_tier": ("Sem nível", "No tier"),
    "loyalty.analytics.none": ("—", "—"),
}
