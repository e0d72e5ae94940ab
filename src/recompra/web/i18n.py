"""Dashboard strings in pt-BR (default) and en."""

from __future__ import annotations

from recompra.analytics import SEGMENTS
from recompra.web.format import Locale

MESSAGES: dict[str, tuple[str, str]] = {
    # key: (pt-BR, en)
    "app.title": ("Recompra", "Recompra"),
    "nav.overview": ("Visão geral", "Overview"),
    "nav.rfm": ("RFV e segmentos", "RFM & segments"),
    "nav.customers": ("Clientes", "Customers"),
    "nav.cohorts": ("Coortes", "Cohorts"),
    "nav.clv": ("Valor do cliente (CLV)", "Customer value (CLV)"),
    "nav.churn": ("Risco de churn", "Churn risk"),
    "nav.loyalty": ("Fidelidade", "Loyalty"),
    "nav.models": ("Modelos", "Models"),
    "nav.signout": ("Sair", "Sign out"),
    "nav.menu": ("Menu", "Menu"),
    "login.title": ("Entrar", "Sign in"),
    "login.email": ("E-mail", "E-mail"),
    "login.password": ("Senha", "Password"),
    "login.submit": ("Entrar", "Sign in"),
    "login.failed": ("E-mail ou senha inválidos.", "Wrong e-mail or password."),
    "kpi.revenue": ("Receita", "Revenue"),
    "kpi.orders": ("Pedidos", "Orders"),
    "kpi.customers": ("Clientes", "Customers"),
    "kpi.repurchase_rate": ("Taxa de recompra", "Repurchase rate"),
    "kpi.retention_rate": ("Retenção", "Retention"),
    "kpi.as_of": ("Indicadores calculados em {date}.", "Figures calculated on {date}."),
    "kpi.aov": ("Ticket médio", "Average order value"),
    "kpi.historic_clv": ("CLV histórico", "Historic CLV"),
    "kpi.predicted_clv": ("CLV previsto (médio)", "Predicted CLV (mean)"),
    "kpi.nps": ("NPS (avaliações)", "NPS (reviews)"),
    "trend.revenue": ("Receita por mês", "Revenue per month"),
    "trend.customers": ("Clientes por mês", "Customers per month"),
    "trend.retention": ("Retenção mês a mês", "Month-on-month retention"),
    "rfm.grid": ("Grade R × F", "R × F grid"),
    "rfm.recency": ("Recência (R)", "Recency (R)"),
    "rfm.frequency": ("Frequência (F)", "Frequency (F)"),
    "rfm.segments": ("Segmentos", "Segments"),
    "col.segment": ("Segmento", "Segment"),
    "col.customers": ("Clientes", "Customers"),
    "col.share": ("Participação", "Share"),
    "col.monetary": ("Valor (M)", "Monetary (M)"),
    "col.avg_clv": ("CLV médio", "Mean CLV"),
    "col.p_alive": ("P(ativo)", "P(alive)"),
    "col.name": ("Nome", "Name"),
    "col.email": ("E-mail", "E-mail"),
    "col.clv": ("CLV previsto", "Predicted CLV"),
    "col.churn": ("Risco de churn", "Churn risk"),
    "col.cohort": ("Coorte", "Cohort"),
    "col.size": ("Tamanho", "Size"),
    "col.month": ("Mês", "Month"),
    "col.date": ("Data", "Date"),
    "col.what": ("O quê", "What"),
    "col.amount": ("Valor", "Amount"),
    "col.city": ("Cidade", "City"),
    "customers.search": ("Buscar por nome, e-mail ou id", "Search by name, e-mail or id"),
    "customers.cell": ("Clientes na célula R={r}, F={f}", "Customers in cell R={r}, F={f}"),
    "customers.segment": ("Clientes do segmento {segment}", "Customers in segment {segment}"),
    "customers.none": ("Nenhum cliente encontrado.", "No customers found."),
    "cohorts.title": ("Retenção por coorte mensal", "Monthly cohort retention"),
    "clv.distribution": ("Distribuição do CLV previsto", "Predicted CLV distribution"),
    "clv.top": ("Clientes mais valiosos", "Most valuable customers"),
    "churn.title": ("Clientes com maior risco de churn", "Customers most at risk of churning"),
    "profile.stats": ("Histórico de compras", "Purchase history"),
    "profile.first": ("Primeiro pedido", "First order"),
    "profile.last": ("Último pedido", "Last order"),
    "profile.spent": ("Total gasto", "Total spent"),
    "profile.returned": ("Devolvido", "Returned"),
    "profile.scores": ("Pontuações e por quê", "Scores and why"),
    "profile.segment_history": ("Histórico de segmentos", "Segment history"),
    "profile.timeline": ("Linha do tempo", "Timeline"),
    "profile.points": ("Pontos", "Points"),
    "profile.recommendations": ("Recomendações", "Recommendations"),
    "profile.next_order": ("Próximo pedido esperado", "Expected next order"),
    "loyalty.title": ("Programa de fidelidade", "Loyalty program"),
    "loyalty.issued": ("Pontos emitidos", "Points issued"),
    "loyalty.redeemed": ("Pontos resgatados", "Points redeemed"),
    "loyalty.outstanding": ("Passivo em aberto (pontos)", "Outstanding liability (points)"),
    "loyalty.outstanding_note": (
        "Saldo disponível {balance} + pendente {pending}; expirados {expired}; "
        "estornados {reversed}; dívida {debt}.",
        "Available {balance} + pending {pending}; expired {expired}; "
        "reversed {reversed}; debt {debt}.",
    ),
    "loyalty.accounts": ("Contas", "Accounts"),
    "loyalty.tiers": ("Distribuição por nível", "Tier distribution"),
    "loyalty.no_tier": ("Sem nível", "No tier"),
    "loyalty.rewards": ("Recompensas", "Rewards"),
    "loyalty.reward": ("Recompensa", "Reward"),
    "loyalty.cost": ("Custo (pontos)", "Cost (points)"),
    "loyalty.stock": ("Estoque", "Stock"),
    "loyalty.redemptions": ("Resgates", "Redemptions"),
    "loyalty.no_rewards": ("Nenhuma recompensa cadastrada.", "No rewards defined."),
    "loyalty.unlimited": ("ilimitado", "unlimited"),
    "models.title": ("Back-tests dos modelos", "Model back-tests"),
    "models.window": (
        "Calibração até {calibration}; holdout até {observation}.",
        "Calibration up to {calibration}; holdout up to {observation}.",
    ),
    "models.purchases": ("Modelos de recompra (holdout)", "Repeat-purchase models (holdout)"),
    "models.model": ("Modelo", "Model"),
    "models.mae": ("MAE", "MAE"),
    "models.rmse": ("RMSE", "RMSE"),
    "models.mae_naive": ("MAE ingênuo", "Naive MAE"),
    "models.total_error": ("Erro no total", "Total error"),
    "models.chosen": ("escolhido", "chosen"),
    "models.rule": ("Critério: {rule}", "Rule: {rule}"),
    "models.churn": ("Modelo de churn", "Churn model"),
    "models.method": ("Método", "Method"),
    "models.auc": ("AUC", "AUC"),
    "models.brier": ("Brier", "Brier"),
    "models.churn_window": (
        "Janela de {days} dias. Escolha: {method} ({reason}).",
        "{days}-day window. Chosen: {method} ({reason}).",
    ),
    "models.tracking": (
        "Recompras acumuladas: real x previsto",
        "Cumulative repeat purchases: actual vs expected",
    ),
    "empty.scores": (
        "Ainda não calculado: execute `recompra analyze`.",
        "Not computed yet: run `recompra analyze`.",
    ),
    "empty.orders": ("Ainda não há pedidos.", "No orders yet."),
    "empty.not_analysed": (
        "Os indicadores ainda não foram calculados para esta loja.",
        "The figures have not been calculated for this store yet.",
    ),
    "empty.not_analysed.admin": (
        "Para o administrador, o comando que os calcula:",
        "For the administrator, the command that calculates them:",
    ),
    "empty.loyalty": (
        "Nenhum programa de fidelidade configurado ainda.",
        "No loyalty program configured yet.",
    ),
    "empty.models": (
        "Ainda não calculado: execute `recompra predict --backtest` para gerar os back-tests.",
        "Not computed yet: run `recompra predict --backtest` to produce the back-tests.",
    ),
    "empty.points": ("Sem programa de fidelidade.", "No loyalty program."),
    "empty.recommendations": (
        "Ainda não calculado: execute `recompra recommend refresh`.",
        "Not computed yet: run `recompra recommend refresh`.",
    ),
    "scores.as_of": ("Pontuações de {date}", "Scores as of {date}"),
    "lang.switch": ("English", "Português"),
    "brand": ("Marca", "Brand"),
    "kind.order": ("Pedido", "Order"),
    "kind.return": ("Devolução", "Return"),
    "kind.review": ("Avaliação", "Review"),
    "kind.event": ("Evento", "Event"),
    "notfound": ("Página não encontrada.", "Page not found."),
}

#: Display names (pt-BR, en) per segment key, taken from :data:`recompra.analytics.SEGMENTS`
#: so that the dashboard can never drift from the analytics package's segment map.
SEGMENT_NAMES: dict[str, tuple[str, str]] = {
    **{s.key: (s.name_pt, s.name_en) for s in SEGMENTS},
    "unsegmented": ("Sem segmento", "Unsegmented"),
}


def translate(key: str, locale: Locale, **values: object) -> str:
    """The message ``key`` in ``locale`` with ``{placeholders}`` filled."""
    pair = MESSAGES.get(key)
    text = key if pair is None else pair[0 if locale == "pt-BR" else 1]
    return text.format(**values) if values else text


def segment_name(segment: str | None, locale: Locale) -> str:
    """A segment's display name (unknown segments shown as stored)."""
    if segment is None:
        segment = "unsegmented"
    pair = SEGMENT_NAMES.get(segment.lower().replace(" ", "_").replace("'", ""))
    if pair is None:
        return segment
    return pair[0 if locale == "pt-BR" else 1]
