"""Dashboard strings in pt-BR (default) and en."""

from __future__ import annotations

from recompra.analytics import SEGMENTS
from recompra.formatting import Locale
from recompra.web.texts import domain_messages

#: A suggested action per RFM segment (shown on the segment's list and the profile).
SEGMENT_ACTIONS: dict[str, tuple[str, str]] = {
    "champions": (
        "Ação sugerida: recompense com acesso antecipado, benefícios do programa e pedidos de "
        "avaliação.",
        "Suggested action: reward them with early access, program perks and review requests.",
    ),
    "loyal": (
        "Ação sugerida: ofereça produtos de maior valor e convide para o próximo nível.",
        "Suggested action: offer higher-value products and invite them to the next tier.",
    ),
    "potential_loyalists": (
        "Ação sugerida: incentive a próxima compra com fidelidade e recomendações.",
        "Suggested action: encourage the next purchase with loyalty perks and recommendations.",
    ),
    "promising": (
        "Ação sugerida: crie o hábito com boas-vindas à marca e ofertas de entrada.",
        "Suggested action: build the habit with a brand welcome and starter offers.",
    ),
    "new_customers": (
        "Ação sugerida: dê as boas-vindas e um incentivo para a segunda compra.",
        "Suggested action: welcome them and give an incentive for the second purchase.",
    ),
    "need_attention": (
        "Ação sugerida: reative com ofertas por tempo limitado baseadas no histórico.",
        "Suggested action: reactivate with time-limited offers based on their history.",
    ),
    "about_to_sleep": (
        "Ação sugerida: reaqueça com recomendações e descontos nas categorias que já compraram.",
        "Suggested action: warm them up with recommendations and discounts in categories "
        "they bought.",
    ),
    "cant_lose_them": (
        "Ação sugerida: recupere com contato pessoal e uma oferta forte; eram dos melhores "
        "clientes.",
        "Suggested action: win them back with personal contact and a strong offer; they "
        "were among the best customers.",
    ),
    "at_risk": (
        "Ação sugerida: envie campanhas de reconquista personalizadas.",
        "Suggested action: send personalised win-back campaigns.",
    ),
    "hibernating": (
        "Ação sugerida: ofereça produtos relevantes e descontos especiais, sem excesso de "
        "contatos.",
        "Suggested action: offer relevant products and special discounts, without too many "
        "messages.",
    ),
    "lost": (
        "Ação sugerida: tente uma campanha de reativação; sem resposta, não invista mais.",
        "Suggested action: try one reactivation campaign; without an answer, invest no more.",
    ),
}

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
    "nav.glossary": ("Glossário", "Glossary"),
    "nav.skip": ("Pular para o conteúdo", "Skip to content"),
    "nav.label": ("Páginas do painel", "Dashboard pages"),
    "login.title": ("Entrar", "Sign in"),
    "login.email": ("E-mail", "E-mail"),
    "login.password": ("Senha", "Password"),
    "login.submit": ("Entrar", "Sign in"),
    "login.failed": ("E-mail ou senha inválidos.", "Wrong e-mail or password."),
    "kpi.as_of": ("Indicadores calculados em {date}.", "Figures calculated on {date}."),
    "trend.revenue": ("Receita por mês", "Revenue per month"),
    "trend.customers": ("Clientes por mês", "Customers per month"),
    "trend.retention": ("Retenção mês a mês", "Month-on-month retention"),
    "trend.partial": (
        "{month} ainda está em andamento (dados até {date}) e fica fora dos gráficos, "
        "para não parecer uma queda.",
        "{month} is still under way (data up to {date}) and is left out of the charts, "
        "so that it does not look like a drop.",
    ),
    "chart.table": ("Ver os dados em tabela", "Show the data as a table"),
    "rfm.grid": ("Grade R × F", "R × F grid"),
    "rfm.segments": ("Segmentos", "Segments"),
    "col.segment": ("Segmento", "Segment"),
    "col.customers": ("Clientes", "Customers"),
    "col.share": ("Participação", "Share"),
    "col.monetary": ("Valor gasto (V)", "Amount spent (M)"),
    "col.avg_clv": ("CLV previsto médio", "Mean predicted CLV"),
    "col.avg_p_alive": ("P(ativo) média", "Mean P(alive)"),
    "col.p_alive": ("P(ativo)", "P(alive)"),
    "col.name": ("Nome", "Name"),
    "col.email": ("E-mail", "E-mail"),
    "col.clv": ("CLV previsto", "Predicted CLV"),
    "col.churn": ("Risco de churn", "Churn risk"),
    "col.cohort": ("Coorte", "Cohort"),
    "col.size": ("Tamanho", "Size"),
    "col.month": ("Mês", "Month"),
    "col.date": ("Data", "Date"),
    "col.city": ("Cidade", "City"),
    "col.state": ("UF", "State"),
    "col.customer": ("Cliente", "Customer"),
    "col.rank": ("Posição", "Rank"),
    "col.product": ("Produto", "Product"),
    "col.why": ("Por quê", "Why"),
    "customers.search": (
        "Buscar por nome, e-mail, CPF ou telefone",
        "Search by name, e-mail, CPF or phone",
    ),
    "customers.search_button": ("Buscar", "Search"),
    "list.showing": ("{first}–{last} de {total} clientes", "{first}–{last} of {total} customers"),
    "list.pages": ("Páginas da lista", "List pages"),
    "list.previous": ("Anterior", "Previous"),
    "list.next": ("Próxima", "Next"),
    "list.page": ("Página {page} de {pages}", "Page {page} of {pages}"),
    "list.latest": ("Os {shown} mais recentes de {total}.", "The latest {shown} of {total}."),
    "export.label": ("Baixar a lista:", "Download the list:"),
    "export.customers": ("Clientes", "Customers"),
    "export.churn": ("Risco de churn", "Churn risk"),
    "export.clv": ("CLV previsto", "Predicted CLV"),
    "export.recommendations": ("Recomendações", "Recommendations"),
    "customers.cell": ("Clientes na célula R={r}, F={f}", "Customers in cell R={r}, F={f}"),
    "customers.segment": ("Clientes do segmento {segment}", "Customers in segment {segment}"),
    "customers.none": ("Nenhum cliente encontrado.", "No customers found."),
    "cohorts.title": ("Retenção por coorte mensal", "Monthly cohort retention"),
    "clv.distribution": ("Distribuição do CLV previsto", "Predicted CLV distribution"),
    "clv.top": ("Clientes mais valiosos", "Most valuable customers"),
    "clv.bin": ("de {low} a {high}", "{low} to {high}"),
    "clv.scale": (
        "Cada barra cobre uma faixa de valor que cresce em degraus de 1, 2 e 5 "
        "(R$ 10, 20, 50, 100...), para mostrar também os poucos clientes de valor alto.",
        "Each bar covers a value range growing in steps of 1, 2 and 5 (R$ 10, 20, 50, "
        "100...), so that the few high-value customers show too.",
    ),
    "churn.title": ("Clientes com maior risco de churn", "Customers most at risk of churning"),
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
    "profile.rfm_scores": ("Notas R / F / V", "R / F / M scores"),
    "profile.balance": ("Saldo disponível", "Available balance"),
    "profile.no_account": (
        "Ainda sem conta: ela é aberta na primeira compra que rende pontos.",
        "No account yet: it opens with the first purchase that earns points.",
    ),
    "timeline.order": ("nº {id}", "no. {id}"),
    "timeline.return.return": ("Devolução", "Return"),
    "timeline.return.cancellation": ("Cancelamento", "Cancellation"),
    "loyalty.title": ("Programa de fidelidade", "Loyalty program"),
    "loyalty.issued": ("Pontos emitidos", "Points issued"),
    "loyalty.redeemed": ("Pontos resgatados", "Points redeemed"),
    "loyalty.outstanding": ("Passivo em aberto (pontos)", "Outstanding liability (points)"),
    "loyalty.outstanding_money": ("Passivo em aberto (R$)", "Outstanding liability (R$)"),
    "loyalty.rate": (
        "Valor de resgate usado: {value} a cada {unit} pontos.",
        "Redemption value used: {value} per {unit} points.",
    ),
    "loyalty.who": (
        "Cada cliente ganha uma conta na primeira compra que rende pontos depois do início "
        "do programa.",
        "Each customer gets an account with their first purchase that earns points after "
        "the program started.",
    ),
    "loyalty.latest_redemptions": ("Resgates e cupons", "Redemptions and coupons"),
    "loyalty.points": ("Pontos", "Points"),
    "loyalty.coupon": ("Cupom", "Coupon"),
    "loyalty.status": ("Situação", "Status"),
    "loyalty.no_redemptions": ("Nenhum resgate ainda.", "No redemptions yet."),
    "redemption.issued": ("emitido", "issued"),
    "redemption.cancelled": ("cancelado", "cancelled"),
    "loyalty.outstanding_note": (
        "Saldo disponível {balance} + pendente {pending}; expirados {expired}; "
        "estornados {reversed}; dívida de pontos {debt}.",
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
    "models.summary": ("Em resumo", "In short"),
    "models.summary.purchases": (
        "O modelo prevê quantos pedidos cada cliente fará; testado nos últimos {days} dias "
        "de dados, errou em média {mae} pedido por cliente.",
        "The model forecasts how many orders each customer will place; tested on the last "
        "{days} days of data, it missed by {mae} orders per customer on average.",
    ),
    "models.summary.better": (
        "Isso é {pct} melhor do que supor que cada cliente repete o seu ritmo passado.",
        "That is {pct} better than assuming each customer repeats their past rate.",
    ),
    "models.summary.not_better": (
        "Isso é {pct} pior do que supor que cada cliente repete o seu ritmo passado.",
        "That is {pct} worse than assuming each customer repeats their past rate.",
    ),
    "models.summary.churn": (
        "O risco de churn (não comprar nos próximos {days} dias) ordena corretamente {auc} "
        "dos pares de clientes (AUC).",
        "The churn risk (no purchase in the next {days} days) ranks {auc} of customer pairs "
        "correctly (AUC).",
    ),
    "models.window": (
        "Calibração até {calibration}; período de teste até {observation}.",
        "Calibration up to {calibration}; test period up to {observation}.",
    ),
    "models.purchases": (
        "Modelos de recompra (período de teste)",
        "Repeat-purchase models (test period)",
    ),
    "models.model": ("Modelo", "Model"),
    "models.chosen": ("escolhido", "chosen"),
    "models.rule": ("Critério de escolha: {rule}.", "Selection rule: {rule}."),
    "models.rule.lowest_mae": (
        "o menor MAE no período de teste",
        "the lowest MAE in the test period",
    ),
    "models.rule.likelihood": (
        "a maior verossimilhança (histórico curto demais para um teste)",
        "the highest likelihood (history too short for a test)",
    ),
    "models.rule.requested": (
        "o modelo pedido na configuração",
        "the model set in the configuration",
    ),
    "models.churn": ("Modelo de churn", "Churn model"),
    "models.method": ("Método", "Method"),
    "models.method.model": ("P(ativo) do modelo de recompra", "Repeat-purchase model P(alive)"),
    "models.method.classifier": (
        "Classificador (gradient boosting)",
        "Classifier (gradient boosting)",
    ),
    "models.method.other": ("outro método", "other method"),
    "models.churn_window": (
        "Janela de {days} dias. Método escolhido: {method}.",
        "{days}-day window. Method chosen: {method}.",
    ),
    "models.reason.short_history": (
        "Motivo: histórico menor que três janelas de churn.",
        "Reason: history shorter than three churn windows.",
    ),
    "models.reason.few_customers": (
        "Motivo: poucos clientes ou um só tipo de resultado.",
        "Reason: too few customers or a single outcome.",
    ),
    "models.reason.lower_brier": (
        "Motivo: menor Brier no teste por tempo.",
        "Reason: lower Brier score on the time split.",
    ),
    "models.reason.lower_or_equal_brier": (
        "Motivo: Brier menor ou igual no teste por tempo.",
        "Reason: lower or equal Brier score on the time split.",
    ),
    "models.reason.requested": (
        "Motivo: pedido na configuração.",
        "Reason: set in the configuration.",
    ),
    "models.reason.classifier_not_used": (
        "O classificador foi pedido mas não usado.",
        "The classifier was requested but not used.",
    ),
    "models.tracking": (
        "Recompras acumuladas: real × previsto",
        "Cumulative repeat purchases: actual vs expected",
    ),
    "models.actual": ("Real", "Actual"),
    "models.expected": ("Previsto", "Expected"),
    "models.week": ("semana {week}", "week {week}"),
    "models.week_heading": ("Semana", "Week"),
    "empty.scores": (
        "As pontuações dos clientes ainda não foram calculadas para esta loja.",
        "Customer scores have not been calculated for this store yet.",
    ),
    "empty.orders": ("Ainda não há pedidos.", "No orders yet."),
    "empty.not_analysed": (
        "Os indicadores ainda não foram calculados para esta loja. Eles aparecem aqui depois "
        "da próxima análise.",
        "The figures have not been calculated for this store yet. They appear here after "
        "the next analysis.",
    ),
    "empty.admin": ("Para o administrador", "For the administrator"),
    "empty.command": ("O comando que gera estes dados:", "The command that produces this data:"),
    "empty.not_analysed.admin": (
        "O comando que calcula os indicadores:",
        "The command that calculates the figures:",
    ),
    "empty.loyalty": (
        "Nenhum programa de fidelidade configurado ainda.",
        "No loyalty program configured yet.",
    ),
    "empty.models": (
        "Os testes dos modelos ainda não foram gerados para esta loja.",
        "The model tests have not been produced for this store yet.",
    ),
    "empty.points": ("Sem programa de fidelidade.", "No loyalty program."),
    "empty.recommendations": (
        "As recomendações ainda não foram calculadas.",
        "Recommendations have not been calculated yet.",
    ),
    "scores.as_of": ("Pontuações de {date}", "Scores as of {date}"),
    "lang.switch": ("English", "Português"),
    "brand": ("Marca", "Brand"),
    "kind.order": ("Pedido", "Order"),
    "kind.return": ("Devolução", "Return"),
    "kind.review": ("Avaliação", "Review"),
    "kind.event": ("Evento", "Event"),
    "notfound": ("Página não encontrada", "Page not found"),
    "notfound.hint": (
        "O endereço não existe ou o item não está mais disponível.",
        "The address does not exist or the item is no longer available.",
    ),
    "notfound.home": ("Voltar à visão geral", "Back to the overview"),
    "glossary.title": ("Glossário dos indicadores", "Metrics glossary"),
    "glossary.intro": (
        "O que cada número do painel quer dizer. Nas páginas, toque no ? ao lado de um "
        "indicador para ver a definição.",
        "What each number on the dashboard means. On the pages, tap the ? next to a metric "
        "to see its definition.",
    ),
    **{f"action.{key}": value for key, value in SEGMENT_ACTIONS.items()},
}
_CORE_KEYS = set(MESSAGES)
_DOMAIN = domain_messages()
if _CORE_KEYS & set(_DOMAIN):
    raise RuntimeError(f"dashboard strings defined twice: {sorted(_CORE_KEYS & set(_DOMAIN))}")
MESSAGES.update(_DOMAIN)

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
