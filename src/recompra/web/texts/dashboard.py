"""Strings of the dashboard's frame: navigation groups, the period picker and filters."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "navgroup.customers": ("Clientes", "Customers"),
    "navgroup.actions": ("Ações", "Actions"),
    "navgroup.relationship": ("Relacionamento", "Relationship"),
    "navgroup.commercial": ("Comercial", "Commercial"),
    "navgroup.reference": ("Referência", "Reference"),
    "filter.label": ("Filtros", "Filters"),
    "filter.state": ("Estado", "State"),
    "filter.channel": ("Canal", "Channel"),
    "filter.segment": ("Segmento RFV", "RFM segment"),
    "filter.live": ("Segmento dinâmico", "Live segment"),
    "filter.all": ("Todos", "All"),
    "filter.apply": ("Filtrar", "Filter"),
    "filter.clear": ("Limpar filtros", "Clear filters"),
    "filter.ignored": (
        "Esta página mostra a loja inteira e não aplica estes filtros: {names}.",
        "This page shows the whole store and does not apply these filters: {names}.",
    ),
    "range.title": ("Período", "Period"),
    "range.all": ("Todo o histórico", "All history"),
    "range.30d": ("Últimos 30 dias", "Last 30 days"),
    "range.90d": ("Últimos 90 dias", "Last 90 days"),
    "range.365d": ("Últimos 365 dias", "Last 365 days"),
    "range.year": ("Este ano", "This year"),
    "range.custom": ("Personalizado", "Custom"),
    "range.from": ("De", "From"),
    "range.to": ("Até", "To"),
    "range.apply": ("Ver período", "Show period"),
    "range.date_hint": ("dd/mm/aaaa", "yyyy-mm-dd"),
    "range.summary": (
        "De {start} a {end}, comparado com o período anterior de mesma duração ({pstart} a "
        "{pend}).",
        "From {start} to {end}, compared with the previous period of the same length "
        "({pstart} to {pend}).",
    ),
    "range.all_summary": (
        "Todo o histórico da loja. Escolha um período para comparar com o anterior.",
        "The store's whole history. Choose a period to compare it with the one before.",
    ),
    "range.partial": (
        "Período parcial: os dados vão até {date}, então o período termina aí.",
        "Partial period: the data end on {date}, so the period ends there.",
    ),
    "range.previous_partial": (
        "O período anterior começa antes da primeira compra da loja: a comparação é parcial.",
        "The previous period starts before the store's first purchase: the comparison is partial.",
    ),
    "range.not_available": (
        "A comparação por período aparece depois da próxima análise dos dados.",
        "The period comparison appears after the next analysis of the data.",
    ),
    "range.after_as_of": (
        "O período escolhido começa depois de {date}, o último dia com dados.",
        "The chosen period starts after {date}, the last day with data.",
    ),
    "kpi.previous": ("Período anterior: {value}", "Previous period: {value}"),
    "kpi.vs_previous": ("em relação ao período anterior", "compared with the previous period"),
    "kpi.change_pp": ("{value} p.p.", "{value} pp"),
    "kpi.change_points": ("{value} pontos", "{value} points"),
    "nav.clusters": ("Grupos de clientes", "Customer clusters"),
    "clusters.title": ("Grupos de clientes parecidos", "Clusters of similar customers"),
    "clusters.intro": (
        "A análise separa os clientes em grupos que compram de forma parecida (k-means sobre "
        "recência, frequência, valor, tempo de casa, itens por pedido, devoluções e notas). "
        "Cada grupo vem descrito em palavras; os números são médias do grupo.",
        "The analysis splits the customers into groups that buy alike (k-means on recency, "
        "frequency, value, tenure, items per order, returns and review scores). Each group is "
        "described in words; the figures are the group's averages.",
    ),
    "clusters.name": ("Grupo {number}", "Cluster {number}"),
    "clusters.size": (
        "{customers} clientes ({share} do total)",
        "{customers} customers ({share} of all)",
    ),
    "clusters.table": ("Médias por grupo", "Averages per cluster"),
    "clusters.group": ("Grupo", "Cluster"),
    "clusters.review": ("Nota média", "Average review score"),
    "clusters.days": ("{days} dias", "{days} days"),
    "clusters.recency_days": ("Dias desde a última compra", "Days since the last purchase"),
    "clusters.orders": ("Compras por cliente", "Purchases per customer"),
}
