"""Dashboard strings of the commercial page (funnel, kanban, forecast, CAC, OKRs,
maturity): key -> (pt-BR, en)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    # The navigation label is looked up as "nav.<page>" by base.html.
    "nav.commercial": ("Comercial", "Commercial"),
    "commercial.title": ("Gestão comercial", "Commercial management"),
    "commercial.funnel": ("Funil de leads", "Lead funnel"),
    "commercial.no_leads": (
        "Ainda não há leads. Importe um funil para ver conversão e tempo até o fechamento.",
        "No leads yet. Import a funnel to see conversion and time to close.",
    ),
    "commercial.leads": ("Leads", "Leads"),
    "commercial.won": ("Negócios ganhos", "Won deals"),
    "commercial.conversion": ("Conversão", "Conversion"),
    "commercial.interval": ("Intervalo de 95%", "95% interval"),
    "commercial.median_close": ("Mediana até o fechamento", "Median time to close"),
    "commercial.days": ("{value} dias", "{value} days"),
    "commercial.within_30": ("Fechados em até 30 dias", "Closed within 30 days"),
    "commercial.channel": ("Canal", "Channel"),
    "commercial.shrunk": ("Conversão ajustada", "Adjusted conversion"),
    "commercial.shrunk_note": (
        "A conversão ajustada puxa canais com poucos leads para a média (Bayes empírico), "
        "para que um canal pequeno não lidere por acaso.",
        "Adjusted conversion pulls channels with few leads towards the average (empirical "
        "Bayes), so a small channel does not lead by chance.",
    ),
    "commercial.kanban": ("Pipeline por etapa", "Pipeline by stage"),
    "commercial.stage": ("Etapa", "Stage"),
    "commercial.deals": ("Negócios", "Deals"),
    "commercial.amount": ("Valor", "Amount"),
    "commercial.forecast": ("Previsão de negócios ganhos", "Won-deal forecast"),
    "commercial.next_month": ("Previsão para {month}", "Forecast for {month}"),
    "commercial.weighted": ("Pipeline ponderado", "Weighted pipeline"),
    "commercial.history": ("Previsto × realizado", "Forecast vs actual"),
    "commercial.no_history": (
        "Ainda não há back-tests gravados.",
        "No stored back-tests yet.",
    ),
    "commercial.month": ("Mês", "Month"),
    "commercial.actual": ("Realizado", "Actual"),
    "commercial.model.lag_cohort": ("Modelo de defasagem", "Lag model"),
    "commercial.model.naive_last_month": ("Mês anterior", "Last month"),
    "commercial.model.mean_3_months": ("Média de 3 meses", "3-month average"),
    "commercial.cac": ("Custo de aquisição (CAC)", "Acquisition cost (CAC)"),
    "commercial.audience.b2c": ("Consumidores (B2C)", "Shoppers (B2C)"),
    "commercial.audience.b2b": ("Empresas (B2B)", "Companies (B2B)"),
    "commercial.spend": ("Investimento", "Spend"),
    "commercial.new_customers": ("Novos clientes", "New customers"),
    "commercial.blended": ("CAC total", "Blended CAC"),
    "commercial.paid": ("CAC de mídia paga", "Paid CAC"),
    "commercial.payback": ("Payback (meses)", "Payback (months)"),
    "commercial.ltv_cac": ("LTV:CAC", "LTV:CAC"),
    "commercial.missing.no_spend": (
        "Sem investimento em marketing registrado.",
        "No marketing spend recorded.",
    ),
    "commercial.missing.no_new_customers": (
        "Nenhum cliente novo nos meses com investimento.",
        "No new customers in the months with spend.",
    ),
    "commercial.missing.no_channel": (
        "Os clientes novos não têm canal de aquisição: CAC de mídia paga desconhecido.",
        "New customers carry no acquisition channel: paid CAC unknown.",
    ),
    "commercial.missing.no_margin_rate": (
        "Informe a margem bruta para calcular o payback.",
        "Give the gross-margin rate to compute payback.",
    ),
    "commercial.missing.no_revenue": (
        "Sem receita conhecida dos clientes novos: payback desconhecido.",
        "No revenue known for the new customers: payback unknown.",
    ),
    "commercial.missing.no_clv": (
        "Sem CLV previsto para os clientes novos.",
        "No predicted CLV for the new customers.",
    ),
    "commercial.okrs": ("OKRs", "OKRs"),
    "commercial.no_okrs": ("Ainda não há OKRs.", "No OKRs yet."),
    "commercial.inconclusive": ("Inconclusivo", "Inconclusive"),
    "commercial.start_target": ("de {start} para {target}", "from {start} to {target}"),
    "commercial.now": ("agora {value}", "now {value}"),
    "commercial.maturity": ("Maturidade", "Maturity"),
    "commercial.dimension": ("Dimensão", "Dimension"),
    "commercial.level": ("Nível", "Level"),
    "commercial.evidence": ("Evidência", "Evidence"),
    "commercial.claimed": ("Autoavaliação", "Self-assessed"),
    "commercial.next_step": ("Próximo passo", "Next step"),
    "commercial.missing_evidence": ("falta: {what}", "missing: {what}"),
}
