"""Strings of the "What each action earned" page (uplift per journey, loyalty ROI)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "nav.measurement": ("O que cada ação rendeu", "What each action earned"),
    "measurement.title": ("O que cada ação rendeu", "What each action earned"),
    "measurement.intro": (
        "Receita incremental = compradores que receberam a ação comparados ao grupo de "
        "controle (holdout) sorteado, por intenção de tratar. A atribuição por último "
        "toque aparece ao lado, nunca no lugar: ela credita pedidos que aconteceriam de "
        "qualquer jeito.",
        "Incremental revenue = customers who got the action compared with the randomly "
        "drawn holdout, by intention to treat. Last-touch attribution is shown next to it, "
        "never instead: it credits orders that would have happened anyway.",
    ),
    "measurement.window": (
        "Pedidos em até {days} dias após a entrada; intervalos de confiança de 95%.",
        "Orders within {days} days after entry; 95% confidence intervals.",
    ),
    "measurement.journeys": ("Jornadas", "Journeys"),
    "measurement.status.current": ("Calculado em {when}.", "Computed at {when}."),
    "measurement.status.updating": (
        "Calculado em {when}; atualizando com os dados novos.",
        "Computed at {when}; updating with the new data.",
    ),
    "measurement.status.section": ("Em cálculo…", "Being computed…"),
    "measurement.status.pending": (
        "Estamos calculando estes números. Eles aparecem aqui em alguns minutos; "
        "recarregue a página.",
        "These figures are being computed. They appear here within a few minutes; reload the page.",
    ),
    "measurement.no_journeys": (
        "Nenhuma jornada ainda. Crie uma com holdout para medir o que ela rende.",
        "No journeys yet. Create one with a holdout to measure what it earns.",
    ),
    "measurement.col.journey": ("Jornada", "Journey"),
    "measurement.col.arms": ("Tratados / controle", "Treated / holdout"),
    "measurement.col.conversion": (
        "Conversão (tratados × controle)",
        "Conversion (treated × holdout)",
    ),
    "measurement.col.lift": ("Diferença na conversão [IC 95%]", "Conversion lift [95% CI]"),
    "measurement.col.incremental": ("Receita incremental [IC 95%]", "Incremental revenue [95% CI]"),
    "measurement.col.orders": ("Pedidos incrementais [IC 95%]", "Incremental orders [95% CI]"),
    "measurement.col.mde": ("Menor efeito detectável", "Minimum detectable effect"),
    "measurement.col.srm": ("SRM (p)", "SRM (p)"),
    "measurement.col.decision": ("Resultado", "Result"),
    "measurement.col.attributed": ("Atribuída (último toque)", "Attributed (last touch)"),
    "measurement.col.response": ("Taxa de resposta", "Response rate"),
    "measurement.col.node": ("Mensagem", "Message"),
    "measurement.col.channel": ("Canal", "Channel"),
    "measurement.nodes": ("Por mensagem", "Per message"),
    "measurement.segments": ("Resposta por segmento", "Response by segment"),
    "measurement.segments.note": (
        "Taxa de resposta = pedidos atribuídos (último toque) / mensagens entregues, pelo "
        "segmento RFM atual do cliente. Atribuição, não efeito causal.",
        "Response rate = attributed orders (last touch) / delivered messages, by the "
        "customer's current RFM segment. Attribution, not a causal effect.",
    ),
    "measurement.col.segment": ("Segmento", "Segment"),
    "measurement.col.delivered": ("Entregues", "Delivered"),
    "measurement.col.clicks": ("Cliques", "Clicks"),
    "measurement.col.attributed_orders": ("Pedidos atribuídos", "Attributed orders"),
    "measurement.mde_days": ("meta em {days} dias", "target in {days} days"),
    "measurement.mde_reached": ("meta atingida", "target reached"),
    "measurement.srm_alert": (
        "desbalanceado: confira o sorteio",
        "mismatched: check the assignment",
    ),
    "measurement.decision.better": ("Rende mais", "Earns more"),
    "measurement.decision.worse": ("Rende menos", "Earns less"),
    "measurement.decision.inconclusive": ("Ainda inconclusivo", "Inconclusive so far"),
    "measurement.reason.no_holdout": (
        "Sem holdout: não há como medir",
        "No holdout: nothing to measure against",
    ),
    "measurement.reason.no_entries": ("Ninguém entrou ainda", "Nobody entered yet"),
    "measurement.reason.window_not_elapsed": (
        "Aguardando a janela terminar",
        "Waiting for the window to close",
    ),
    "measurement.reason.one_arm_empty": ("Um dos grupos está vazio", "One of the arms is empty"),
    "measurement.cuped": (
        "Com CUPED ({covariate}): variância {reduction} menor; receita incremental por "
        "elegível {value} [{low}, {high}].",
        "With CUPED ({covariate}): variance {reduction} lower; incremental revenue per "
        "eligible {value} [{low}, {high}].",
    ),
    "measurement.covariate.predicted_clv": (
        "CLV previsto antes da entrada",
        "predicted CLV before entry",
    ),
    "measurement.covariate.pre_period_revenue": (
        "receita dos 365 dias antes da entrada",
        "revenue in the 365 days before entry",
    ),
    "measurement.loyalty": ("Programa de fidelidade", "Loyalty program"),
    "measurement.loyalty.observational": (
        "Estudo observacional: cada membro é comparado a um não membro parecido antes da "
        "adesão (recência, frequência, valor e CLV previsto). Não é um sorteio; diferenças "
        "que o pareamento não vê podem pesar no resultado.",
        "Observational: each member is compared with a similar non-member before joining "
        "(recency, frequency, monetary value and predicted CLV). It is not a random draw; "
        "differences the matching does not see can weigh on the result.",
    ),
    "measurement.loyalty.none": ("Sem programa de fidelidade ativo.", "No active loyalty program."),
    "measurement.loyalty.no_estimate": ("Sem estimativa: {reason}.", "No estimate: {reason}."),
    "measurement.loyalty.members": ("Membros pareados", "Matched members"),
    "measurement.loyalty.margin": ("Margem incremental [IC 95%]", "Incremental margin [95% CI]"),
    "measurement.loyalty.liability": ("Passivo de pontos", "Points liability"),
    "measurement.loyalty.redemption_cost": ("Custo dos resgates", "Redemption cost"),
    "measurement.loyalty.redemption_rate": ("Taxa de resgate", "Redemption rate"),
    "measurement.loyalty.roi": ("ROI [IC 95%]", "ROI [95% CI]"),
    "measurement.loyalty.per_point": (
        "Margem incremental por ponto",
        "Incremental margin per point",
    ),
    "measurement.loyalty.churn": ("Diferença no churn [IC 95%]", "Churn difference [95% CI]"),
    "measurement.loyalty.assumptions": (
        "Margem bruta de {margin} sobre a receita, {days} dias após a adesão, "
        "{unit} pontos valem {value}.",
        "Gross margin of {margin} on revenue, {days} days after joining, "
        "{unit} points are worth {value}.",
    ),
    "measurement.loyalty.reason.no_members": ("ninguém aderiu ainda", "nobody has joined yet"),
    "measurement.loyalty.reason.no_orders": (
        "a loja ainda não tem pedidos",
        "the store has no orders yet",
    ),
    "measurement.loyalty.reason.too_few_members": (
        "poucos membros para comparar",
        "too few members to compare",
    ),
    "measurement.loyalty.reason.no_comparable_non_members": (
        "não há não membros para comparar",
        "there are no non-members to compare with",
    ),
    "measurement.channel.email": ("E-mail", "E-mail"),
    "measurement.channel.webhook": ("Webhook (WhatsApp/SMS)", "Webhook (WhatsApp/SMS)"),
    "measurement.loyalty.reason.no_variation": (
        "membros e pareados gastaram o mesmo após a adesão",
        "members and their matches spent the same after joining",
    ),
    "measurement.targeting.t_learner": (
        "Segmentação por uplift (T-learner)",
        "Uplift targeting (T-learner)",
    ),
    "measurement.targeting.class_transformation": (
        "Segmentação por uplift (transformação de classe)",
        "Uplift targeting (class transformation)",
    ),
    "measurement.targeting.use": ("melhor que o acaso: pode segmentar", "beats random: may target"),
    "measurement.targeting.skip": (
        "não supera o acaso: não segmentar",
        "no better than random: do not target",
    ),
    "measurement.targeting.reason.too_little_holdout_data": (
        "Segmentação por uplift: dados do holdout ainda insuficientes (100 compradores por grupo).",
        "Uplift targeting: not enough holdout data yet (100 buyers per arm).",
    ),
}
