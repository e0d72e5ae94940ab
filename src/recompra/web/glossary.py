"""One-line definitions of every metric the dashboard shows, in pt-BR and en.

The same text is the hover/tap hint next to a label and the entry of the glossary page,
so a definition is written once. Wording follows the analytics definitions
(:mod:`recompra.analytics.kpis`, :mod:`recompra.analytics.rfm`) and the prediction run
(:mod:`recompra.predict.scoring`: CLV and expected orders over 365 days).
"""

from __future__ import annotations

from dataclasses import dataclass

from recompra.formatting import Locale


@dataclass(frozen=True)
class Term:
    """A metric's name and definition in both languages."""

    key: str
    name_pt: str
    name_en: str
    definition_pt: str
    definition_en: str

    def name(self, locale: Locale) -> str:
        """The metric's name in ``locale``."""
        return self.name_pt if locale == "pt-BR" else self.name_en

    def definition(self, locale: Locale) -> str:
        """The one-line definition in ``locale``."""
        return self.definition_pt if locale == "pt-BR" else self.definition_en


TERMS: tuple[Term, ...] = (
    Term(
        "revenue",
        "Receita",
        "Revenue",
        "Valor líquido das compras (descontadas devoluções e estornos), em R$.",
        "Net value of purchases (returns and refunds deducted), in R$.",
    ),
    Term(
        "orders",
        "Pedidos",
        "Orders",
        "Número de compras concluídas; pedidos cancelados não contam.",
        "Number of completed purchases; cancelled orders do not count.",
    ),
    Term(
        "customers",
        "Clientes",
        "Customers",
        "Pessoas distintas que fizeram ao menos uma compra.",
        "Distinct people who made at least one purchase.",
    ),
    Term(
        "new_customers",
        "Clientes novos",
        "New customers",
        "Clientes cuja primeira compra foi no período.",
        "Customers whose first purchase was in the period.",
    ),
    Term(
        "purchase_frequency",
        "Frequência de compra",
        "Purchase frequency",
        "Pedidos do período divididos pelos clientes que compraram nele.",
        "Orders in the period divided by the customers who bought in it.",
    ),
    Term(
        "repurchase_rate",
        "Taxa de recompra",
        "Repurchase rate",
        "Parcela dos clientes que já compraram duas vezes ou mais.",
        "Share of customers who have bought two or more times.",
    ),
    Term(
        "retention_rate",
        "Retenção",
        "Retention",
        "Dos clientes ativos no início do período, a parcela que não ficou 180 dias sem comprar.",
        "Of the customers active at the start of the period, the share who did not go 180 "
        "days without buying.",
    ),
    Term(
        "aov",
        "Ticket médio",
        "Average order value",
        "Valor pago por pedido, em média (antes de devoluções).",
        "Amount paid per order on average (before returns).",
    ),
    Term(
        "historic_clv",
        "CLV histórico",
        "Historic CLV",
        "Receita líquida trazida até hoje, em média, por cliente.",
        "Net revenue brought so far, on average, per customer.",
    ),
    Term(
        "predicted_clv",
        "CLV previsto",
        "Predicted CLV",
        "Receita que se espera de um cliente nos próximos 365 dias, pelo modelo de recompra.",
        "Revenue expected from a customer over the next 365 days, by the repeat-purchase model.",
    ),
    Term(
        "nps",
        "NPS (avaliações)",
        "NPS (reviews)",
        "Promotores (nota 5) menos detratores (notas 1 a 3), em % das avaliações; de -100 a 100.",
        "Promoters (score 5) minus detractors (scores 1 to 3), as % of reviews; from -100 to 100.",
    ),
    Term(
        "rfm",
        "RFV",
        "RFM",
        "Recência, frequência e valor: notas de 1 a 5 que agrupam clientes pelo hábito de compra.",
        "Recency, frequency and monetary value: 1-to-5 scores that group customers by buying "
        "habit.",
    ),
    Term(
        "recency",
        "Recência (R)",
        "Recency (R)",
        "Nota de 1 a 5 pelos dias desde a última compra; 5 = comprou há pouco.",
        "1-to-5 score by days since the last purchase; 5 = bought recently.",
    ),
    Term(
        "frequency",
        "Frequência (F)",
        "Frequency (F)",
        "Nota de 1 a 5 pelo número de compras; 5 = compra com mais frequência.",
        "1-to-5 score by number of purchases; 5 = buys most often.",
    ),
    Term(
        "monetary",
        "Valor gasto (V)",
        "Amount spent (M)",
        "Total gasto pelo cliente em todas as compras, descontadas devoluções, em R$.",
        "Total the customer spent over all purchases, returns deducted, in R$.",
    ),
    Term(
        "segment_revenue",
        "Receita do segmento",
        "Segment revenue",
        "Soma do valor gasto por todos os clientes do segmento, em R$.",
        "Sum of what every customer in the segment spent, in R$.",
    ),
    Term(
        "segment",
        "Segmento",
        "Segment",
        "Grupo RFV do cliente (por exemplo, Campeões ou Em risco), com uma ação sugerida.",
        "The customer's RFM group (for example Champions or At Risk), with a suggested action.",
    ),
    Term(
        "p_alive",
        "P(ativo)",
        "P(alive)",
        "Probabilidade de o cliente ainda comprar da loja, segundo o modelo de recompra.",
        "Probability that the customer still buys from the store, by the repeat-purchase model.",
    ),
    Term(
        "churn_risk",
        "Risco de churn",
        "Churn risk",
        "Probabilidade de o cliente não comprar de novo dentro da janela de churn (em geral "
        "90 dias).",
        "Probability that the customer does not buy again within the churn window (usually "
        "90 days).",
    ),
    Term(
        "cohort",
        "Coorte",
        "Cohort",
        "Clientes que fizeram a primeira compra no mesmo mês; a coluna N mostra quantos "
        "compraram N meses depois.",
        "Customers whose first purchase was in the same month; column N shows how many bought "
        "N months later.",
    ),
    Term(
        "mae",
        "MAE (erro médio)",
        "MAE (mean error)",
        "Erro absoluto médio: em média, quantos pedidos a previsão errou por cliente.",
        "Mean absolute error: on average, by how many orders the forecast missed per customer.",
    ),
    Term(
        "rmse",
        "RMSE",
        "RMSE",
        "Raiz do erro quadrático médio: como o MAE, mas pesa mais os erros grandes.",
        "Root mean squared error: like MAE, but large misses weigh more.",
    ),
    Term(
        "mae_naive",
        "MAE ingênuo",
        "Naive MAE",
        "O MAE de supor que cada cliente repete o seu ritmo passado; o modelo deve ser menor.",
        "The MAE of assuming each customer repeats their past rate; the model should be lower.",
    ),
    Term(
        "total_error",
        "Erro no total",
        "Total error",
        "Diferença entre o total de pedidos previsto e o real no período de teste.",
        "Difference between the predicted and the actual total of orders in the test period.",
    ),
    Term(
        "auc",
        "AUC",
        "AUC",
        "Chance de o modelo dar risco maior a quem deixou de comprar do que a quem comprou "
        "(0,5 = acaso, 1 = perfeito).",
        "Chance that the model ranks a customer who stopped buying above one who bought "
        "(0.5 = chance, 1 = perfect).",
    ),
    Term(
        "brier",
        "Brier",
        "Brier",
        "Erro quadrático médio das probabilidades de churn; quanto menor, melhor (0 = perfeito).",
        "Mean squared error of the churn probabilities; lower is better (0 = perfect).",
    ),
    Term(
        "points_outstanding",
        "Passivo de pontos",
        "Points liability",
        "Pontos que os clientes ainda podem resgatar: saldo disponível mais pendente.",
        "Points customers may still redeem: available balance plus pending.",
    ),
    Term(
        "points_pending",
        "Pontos pendentes",
        "Pending points",
        "Pontos de compras recentes, liberados quando passa o prazo de devolução.",
        "Points from recent purchases, released once the return window has passed.",
    ),
    Term(
        "points_debt",
        "Dívida de pontos",
        "Points debt",
        "Pontos já usados de compras depois devolvidas; descontados dos próximos ganhos.",
        "Points already spent from purchases later returned; taken from future earnings.",
    ),
    Term(
        "redemption_value",
        "Valor de resgate",
        "Redemption value",
        "Quanto vale um ponto em R$, pelo custo das recompensas (ex.: cupom de R$ 10 por "
        "1.000 pontos).",
        "What one point is worth in R$, from the rewards' cost (e.g. an R$ 10 coupon for "
        "1,000 points).",
    ),
    Term(
        "tier",
        "Nível",
        "Tier",
        "Categoria do programa de fidelidade alcançada pelo cliente (ex.: Prata, Ouro).",
        "Loyalty-program level the customer has reached (e.g. Silver, Gold).",
    ),
)

BY_KEY: dict[str, Term] = {term.key: term for term in TERMS}
