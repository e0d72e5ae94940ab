"""Strings of the live segments pages (list, segment, builder), pt-BR and en.

Field and operator labels are keyed by the names of :data:`recompra.segments.fields.FIELDS`
and its operators; a test checks that every field and operator has one.
"""

from __future__ import annotations

FIELD_LABELS: dict[str, tuple[str, str]] = {
    "state": ("Estado (UF)", "State"),
    "city": ("Cidade", "City"),
    "signup_date": ("Cliente desde", "Customer since"),
    "birth_date": ("Data de nascimento", "Date of birth"),
    "birthday": ("Aniversário", "Birthday"),
    "b2b": ("Empresa (CNPJ)", "Company (CNPJ)"),
    "orders": ("Compras", "Purchases"),
    "net_revenue": ("Receita líquida", "Net revenue"),
    "aov": ("Tíquete médio", "Average order value"),
    "first_order_date": ("Data da primeira compra", "First purchase date"),
    "last_order_date": ("Data da última compra", "Last purchase date"),
    "days_since_last_order": ("Dias desde a última compra", "Days since last purchase"),
    "bought_product": ("Comprou o produto", "Bought product"),
    "bought_category": ("Comprou na categoria", "Bought in category"),
    "channel": ("Comprou pelo canal", "Bought through channel"),
    "returned": ("Fez devolução", "Returned an order"),
    "review_score": ("Nota de avaliação", "Review score"),
    "event_count": ("Eventos do tipo", "Events of type"),
    "rfm_segment": ("Segmento RFV", "RFM segment"),
    "r_score": ("Nota de recência (R)", "Recency score (R)"),
    "f_score": ("Nota de frequência (F)", "Frequency score (F)"),
    "m_score": ("Nota de valor (V)", "Monetary score (M)"),
    "cluster": ("Grupo de comportamento", "Behaviour cluster"),
    "p_alive": ("Probabilidade de estar ativo", "Probability of being active"),
    "clv": ("Valor previsto (CLV)", "Predicted value (CLV)"),
    "churn_risk": ("Risco de churn", "Churn risk"),
    "expected_next_order_date": ("Próxima compra prevista", "Expected next purchase"),
    "points_balance": ("Saldo de pontos", "Points balance"),
    "pending_points": ("Pontos pendentes", "Pending points"),
    "tier": ("Nível do programa", "Program tier"),
    "points_expiring": ("Pontos a expirar", "Points expiring"),
}

OP_LABELS: dict[str, tuple[str, str]] = {
    "eq": ("é igual a", "equals"),
    "ne": ("é diferente de", "differs from"),
    "gt": ("maior que", "greater than"),
    "gte": ("maior ou igual a", "at least"),
    "lt": ("menor que", "less than"),
    "lte": ("menor ou igual a", "at most"),
    "between": ("entre", "between"),
    "in": ("é um de", "is one of"),
    "not_in": ("não é nenhum de", "is none of"),
    "within_days": ("nos próximos/últimos N dias", "within N days"),
    "within_next_days": ("nos próximos N dias", "within the next N days"),
    "contains": ("contém", "contains"),
    "is_null": ("não informado", "is empty"),
    "is_not_null": ("informado", "is present"),
}

GROUP_LABELS: dict[str, tuple[str, str]] = {
    "profile": ("Perfil", "Profile"),
    "behaviour": ("Comportamento", "Behaviour"),
    "analytics": ("Análises e modelos", "Analytics and models"),
    "loyalty": ("Fidelidade", "Loyalty"),
    "property": ("Propriedades do cliente", "Customer properties"),
}

MESSAGES: dict[str, tuple[str, str]] = {
    "nav.segments": ("Segmentos", "Segments"),
    "segments.title": ("Segmentos ao vivo", "Live segments"),
    "segments.intro": (
        "Regras sobre perfil, compras, modelos e fidelidade. A entrada e a saída de cada "
        "cliente são registradas no momento em que um pedido, devolução ou movimento de "
        "pontos cruza a regra; as jornadas usam esses registros.",
        "Rules over profile, purchases, models and loyalty. Each customer's entry and exit "
        "is recorded the moment an order, return or points movement crosses the rule; "
        "journeys use these records.",
    ),
    "segments.new": ("Novo segmento", "New segment"),
    "segments.property": ("Propriedade {name}", "Property {name}"),
    # A property's within_days looks back only (a field's may look ahead).
    "segments.property_within_days": ("nos últimos N dias", "within the last N days"),
    "segments.none": (
        "Nenhum segmento ainda. Crie o primeiro com o botão Novo segmento.",
        "No segments yet. Create the first one with the New segment button.",
    ),
    "segments.col.name": ("Segmento", "Segment"),
    "segments.col.members": ("Clientes", "Customers"),
    "segments.col.version": ("Versão", "Version"),
    "segments.col.evaluated": ("Avaliado em", "Evaluated"),
    "segments.rule": ("Regra", "Rule"),
    "segments.all": ("Todas estas condições", "All of these conditions"),
    "segments.any": ("Pelo menos uma destas condições", "At least one of these conditions"),
    "segments.not": ("Nenhuma destas condições", "None of these conditions"),
    "segments.days": ("nos últimos {days} dias", "in the last {days} days"),
    "segments.event": ("evento {event}", "event {event}"),
    "segments.members": ("Clientes no segmento", "Customers in the segment"),
    "segments.members_shown": (
        "Mostrando {shown} de {total} clientes.",
        "Showing {shown} of {total} customers.",
    ),
    "segments.download_csv": ("Baixar CSV", "Download CSV"),
    "segments.download_xlsx": ("Baixar Excel", "Download Excel"),
    "segments.history": ("Entradas e saídas recentes", "Recent entries and exits"),
    "segments.entered": ("entrou", "entered"),
    "segments.entered_at": ("Entrou em", "Entered on"),
    "segments.exited": ("saiu", "exited"),
    "segments.no_history": ("Nenhuma entrada ou saída ainda.", "No entries or exits yet."),
    "segments.goals": ("Metas", "Goals"),
    "segments.no_goals": ("Nenhuma meta para este segmento.", "No goals for this segment."),
    "segments.edit": ("Editar", "Edit"),
    "segments.builder": ("Construtor de segmento", "Segment builder"),
    "segments.key": (
        "Identificador (letras minúsculas, números, _ ou -)",
        "Key (lower-case letters, digits, _ or -)",
    ),
    "segments.name_pt": ("Nome em português", "Name in Portuguese"),
    "segments.name_en": ("Nome em inglês", "Name in English"),
    "segments.match": ("Os clientes entram quando atendem a", "Customers enter when they meet"),
    "segments.match_all": ("todas as condições", "all conditions"),
    "segments.match_any": ("pelo menos uma condição", "at least one condition"),
    "segments.negate": ("nenhuma condição (negar o grupo)", "no condition (negate the group)"),
    "segments.add_condition": ("Adicionar condição", "Add condition"),
    "segments.add_group": ("Adicionar grupo", "Add group"),
    "segments.remove": ("Remover", "Remove"),
    "segments.field": ("Campo", "Field"),
    "segments.operator": ("Comparação", "Comparison"),
    "segments.value": ("Valor", "Value"),
    "segments.value_hint": (
        "Listas separadas por vírgula; entre: mínimo, máximo; valores em R$ com ponto "
        "decimal (500.00); datas AAAA-MM-DD.",
        "Lists separated by commas; between: low, high; amounts in currency units with a "
        "decimal point (500.00); dates YYYY-MM-DD.",
    ),
    "segments.window": ("Janela em dias (opcional)", "Window in days (optional)"),
    "segments.window_required": ("Janela em dias", "Window in days"),
    "segments.event_type": ("Tipo de evento", "Event type"),
    "segments.advanced": (
        "Definição (JSON) — para copiar ou colar",
        "Definition (JSON) — to copy or paste",
    ),
    "segments.apply_json": ("Usar esta definição", "Use this definition"),
    "segments.preview": ("Pré-visualizar", "Preview"),
    "segments.save": ("Salvar segmento", "Save segment"),
    "segments.preview_result": (
        "{members} clientes ({customers} da base, {revenue} da receita).",
        "{members} customers ({customers} of the base, {revenue} of revenue).",
    ),
    "segments.sample": ("Amostra", "Sample"),
    "segments.problems": (
        "A definição não foi aceita. Corrija os pontos abaixo (caminho do item: motivo):",
        "The definition was refused. Fix the points below (path of the item: reason):",
    ),
    "segments.saved": (
        "Segmento salvo (versão {version}): {members} clientes.",
        "Segment saved (version {version}): {members} customers.",
    ),
    "segments.yes": ("sim", "yes"),
    "segments.no": ("não", "no"),
    "segments.empty_value": ("(vazio)", "(empty)"),
    **{f"segments.field.{k}": v for k, v in FIELD_LABELS.items()},
    **{f"segments.op.{k}": v for k, v in OP_LABELS.items()},
    **{f"segments.group.{k}": v for k, v in GROUP_LABELS.items()},
}
