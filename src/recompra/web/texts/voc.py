"""Dashboard strings of the voice-of-the-customer page (key -> (pt-BR, en))."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "nav.voc": ("Voz do cliente", "Voice of the customer"),
    "voc.title": ("Voz do cliente", "Voice of the customer"),
    "voc.empty": (
        "Ainda não há avaliações desta loja.",
        "This store has no reviews yet.",
    ),
    "voc.nps": ("NPS", "NPS"),
    "voc.proxy": ("proxy", "proxy"),
    "voc.nps_surveys": ("NPS das pesquisas", "NPS from surveys"),
    "voc.proxy_note": (
        "NPS estimado pelas estrelas das avaliações (proxy), não por pesquisa: "
        "promotores {promoter} estrelas, neutros {passive}, detratores {detractor}. "
        "O mapeamento é uma configuração da loja.",
        "NPS estimated from review stars (a proxy), not from a survey: promoters "
        "{promoter} stars, passives {passive}, detractors {detractor}. The mapping is a "
        "store setting.",
    ),
    "voc.ci": ("IC 95%: {low} a {high}", "95% CI: {low} to {high}"),
    "voc.ci_heading": ("IC 95%", "95% CI"),
    "voc.range": ("{low} a {high}", "{low} to {high}"),
    "voc.n": ("{n} respostas", "{n} responses"),
    "voc.csat": ("CSAT (4–5 estrelas)", "CSAT (4–5 stars)"),
    "voc.mean_stars": ("Média de estrelas", "Average stars"),
    "voc.margins": ("Respostas para a margem desejada", "Responses for a target margin"),
    "voc.margin": ("Margem (pontos)", "Margin (points)"),
    "voc.needed": ("Respostas necessárias", "Responses needed"),
    "voc.have": ("Respostas atuais", "Current responses"),
    "voc.margin_note": (
        "Com 95% de confiança, usando as proporções observadas.",
        "At 95% confidence, using the observed shares.",
    ),
    "voc.trend": ("NPS por mês", "NPS by month"),
    "voc.csat_trend": ("CSAT por mês", "CSAT by month"),
    "voc.change": ("Variação", "Change"),
    "voc.significant": ("significativa", "significant"),
    "voc.not_significant": ("não significativa", "not significant"),
    "voc.change_note": (
        "Uma variação é marcada como significativa apenas quando o teste z de duas amostras "
        "dá p < 0,05 e os dois meses têm ao menos 30 respostas.",
        "A change is marked significant only when the two-sample z-test gives p < 0.05 and "
        "both months have at least 30 responses.",
    ),
    "voc.delivery": ("Entrega no prazo × atrasada", "On-time vs late delivery"),
    "voc.delivery_rule": (
        "No prazo = entregue até o dia estimado (horário de Brasília).",
        "On time = delivered on or before the estimated day (Brasília time).",
    ),
    "voc.delivery.on_time": ("No prazo", "On time"),
    "voc.delivery.late": ("Atrasada", "Late"),
    "voc.delivery.not_delivered": ("Não entregue", "Not delivered"),
    "voc.delivery.no_estimate": ("Sem data estimada", "No estimated date"),
    "voc.delivery_gap": (
        "No prazo − atrasada: {difference} pontos ({flag}).",
        "On time − late: {difference} points ({flag}).",
    ),
    "voc.status": ("Situação", "Status"),
    "voc.by_state": ("Por estado", "By state"),
    "voc.state": ("Estado", "State"),
    "voc.late_share": ("Atrasos", "Late share"),
    "voc.nps_on_time": ("NPS no prazo", "NPS on time"),
    "voc.nps_late": ("NPS atrasada", "NPS late"),
    "voc.topics": ("Assuntos dos comentários", "Comment topics"),
    "voc.topics_note": (
        "{covered} de {negative} comentários negativos (1–2 estrelas) têm ao menos um "
        "assunto ({share}).",
        "{covered} of {negative} negative comments (1–2 stars) have at least one topic ({share}).",
    ),
    "voc.topic": ("Assunto", "Topic"),
    "voc.in_negative": ("Em comentários negativos", "In negative comments"),
    "voc.share_negative": ("% dos negativos", "% of negative"),
    "voc.in_all": ("Em todos os comentários", "In all comments"),
    "voc.topic.not_received": ("Não recebido", "Not received"),
    "voc.topic.delivery_delay": ("Atraso na entrega", "Delivery delay"),
    "voc.topic.missing_items": ("Itens faltando", "Missing items"),
    "voc.topic.wrong_item": ("Produto errado", "Wrong item"),
    "voc.topic.damaged": ("Avariado", "Damaged"),
    "voc.topic.product_quality": ("Qualidade do produto", "Product quality"),
    "voc.topic.customer_service": ("Atendimento", "Customer service"),
    "voc.topic.refund_return": ("Devolução e reembolso", "Returns and refunds"),
    "voc.topic.price": ("Preço e frete", "Price and shipping cost"),
}
