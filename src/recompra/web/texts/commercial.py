"""Dashboard strings of the commercial pages (pipeline, funnel, forecast, lead scores,
CAC, OKRs and maturity): key -> (pt-BR, en)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    # The navigation label is looked up as "nav.<page>" by base.html.
    "nav.commercial": ("Pipeline", "Pipeline"),
    "nav.commercial_funnel": ("Funil", "Funnel"),
    "nav.commercial_forecast": ("Previsão de vendas", "Sales forecast"),
    "nav.commercial_leads": ("Pontuação de leads", "Lead scores"),
    "nav.commercial_cac": ("CAC e investimento", "CAC and spend"),
    "nav.commercial_okrs": ("OKRs e maturidade", "OKRs and maturity"),
    "commercial.pipeline.title": ("Pipeline de vendas", "Sales pipeline"),
    "commercial.open_amount": ("Em aberto", "Open"),
    "commercial.open_deals": ("Negócios abertos: {count}", "Open deals: {count}"),
    "commercial.weighted_note": (
        "Valor de cada negócio aberto × probabilidade da etapa.",
        "Each open deal's amount × its stage's probability.",
    ),
    "commercial.probability": ("Probabilidade da etapa: {value}", "Stage probability: {value}"),
    "commercial.owner": ("Responsável: {name}", "Owner: {name}"),
    "commercial.lost_reason": ("Motivo da perda: {reason}", "Lost reason: {reason}"),
    "commercial.more_deals": ("e mais {count}", "and {count} more"),
    "commercial.quartiles": ("Quartis: {q1} – {q3} dias", "Quartiles: {q1} – {q3} days"),
    "commercial.time_to_close": ("Tempo até o fechamento", "Time to close"),
    "commercial.within": ("Em até {days} dias", "Within {days} days"),
    "commercial.close_note": (
        "Dias do primeiro contato ao ganho, em {deals} negócios; {excluded} ganhos antes do "
        "primeiro contato ficam de fora (erro de dado).",
        "Days from first contact to won over {deals} deals; {excluded} won before their first "
        "contact are left out (a data error).",
    ),
    "commercial.conversion_by": ("Conversão por grupo", "Conversion by group"),
    "commercial.by.channel": ("Canal", "Channel"),
    "commercial.by.page": ("Página de entrada", "Landing page"),
    "commercial.by.cohort": ("Mês do primeiro contato", "First-contact month"),
    "commercial.by.year": ("Ano do primeiro contato", "First-contact year"),
    "commercial.by.rep": ("SDR", "SDR"),
    "commercial.rep_warning": (
        "Os SDRs só estão registrados nos negócios ganhos: a conversão por SDR é 100% por "
        "construção e não serve para comparar pessoas.",
        "SDRs are recorded only on won deals: conversion by SDR is 100% by construction and "
        "cannot compare people.",
    ),
    "commercial.reps": ("Concentração por vendedor", "Concentration by rep"),
    "commercial.reps_count": ("Vendedores com negócios ganhos", "Reps with won deals"),
    "commercial.top_rep_share": ("Parcela do principal vendedor", "Top rep's share"),
    "commercial.hhi": ("Concentração (HHI, 0–1)", "Concentration (HHI, 0–1)"),
    "commercial.reps_80": ("Vendedores que fecham 80%", "Reps closing 80%"),
    "commercial.lag_note": (
        "Modelo de defasagem por coorte de leads.",
        "Conversion-lag model over lead cohorts.",
    ),
    "commercial.leads_title": ("Pontuação de leads", "Lead scores"),
    "commercial.no_fits": (
        "A pontuação ainda não foi calculada. Ela é recalculada sozinha quando há leads "
        "convertidos e não convertidos.",
        "No lead score fitted yet. It refits by itself once there are converted and "
        "unconverted leads.",
    ),
    "commercial.fit_model": ("Modelo", "Model"),
    "commercial.fit_version": ("versão {version}, {when}", "version {version}, {when}"),
    "commercial.score_model.naive_bayes": ("Naive Bayes", "Naive Bayes"),
    "commercial.score_model.logistic_l2": ("Regressão logística", "Logistic regression"),
    "commercial.auc": ("AUC (validação cruzada)", "AUC (cross-validated)"),
    "commercial.auc_note": (
        "Chance de um lead convertido ter nota maior que um não convertido.",
        "Chance that a converted lead scores above one that did not convert.",
    ),
    "commercial.auc_weak": (
        "AUC abaixo de {value}: o que se sabe no primeiro contato quase não separa quem "
        "converte; use a nota com cautela.",
        "AUC below {value}: what is known at first contact barely separates converters; "
        "use the score with care.",
    ),
    "commercial.lift": ("Lift do decil superior", "Top-decile lift"),
    "commercial.lift_note": (
        "Conversão dos 10% mais bem pontuados ÷ conversão geral.",
        "Conversion of the best-scored 10% ÷ overall conversion.",
    ),
    "commercial.scored": ("Leads pontuados", "Scored leads"),
    "commercial.top_leads": (
        "Leads mais promissores ainda não convertidos",
        "Most promising leads not converted yet",
    ),
    "commercial.lead": ("Lead", "Lead"),
    "commercial.first_contact": ("Primeiro contato", "First contact"),
    "commercial.probability_col": ("Probabilidade", "Probability"),
    "commercial.fits": ("Ajustes do modelo", "Model fits"),
    "commercial.version": ("Versão", "Version"),
    "commercial.fitted_at": ("Ajustado em", "Fitted at"),
    "commercial.refit_note": (
        "O modelo é reajustado quando fica velho ou chegam leads novos suficientes "
        "(RECOMPRA_LEAD_SCORE_REFIT_DAYS, RECOMPRA_LEAD_SCORE_REFIT_LEADS).",
        "The model refits when it gets old or enough new leads arrive "
        "(RECOMPRA_LEAD_SCORE_REFIT_DAYS, RECOMPRA_LEAD_SCORE_REFIT_LEADS).",
    ),
    "commercial.cac_note": (
        "CAC = investimento ÷ clientes novos nos meses com investimento; B2B conta negócios "
        "ganhos.",
        "CAC = spend ÷ new customers in the months with spend; B2B counts won deals.",
    ),
    "commercial.okrs_title": ("OKRs e maturidade", "OKRs and maturity"),
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
    "commercial.shrunk": ("Conversão ajustada", "Adjusted conversion"),
    "commercial.shrunk_note": (
        "A conversão ajustada puxa canais com poucos leads para a média (Bayes empírico), "
        "para que um canal pequeno não lidere por acaso.",
        "Adjusted conversion pulls channels with few leads towards the average (empirical "
        "Bayes), so a small channel does not lead by chance.",
    ),
    "commercial.kanban": ("Pipeline por etapa", "Pipeline by stage"),
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
