"""OKRs bound to live KPIs: progress, weighting, "inconclusive", and seed 003's templates.

Progress of a key result = clamp((current − start) / (target − start), 0, 1). A key
result is *inconclusive* when its KPI has fewer than ``MIN_SAMPLE`` observations, or when
the KPI's 95% interval is wider than the distance from start to target (the data cannot
tell whether the move happened). An objective's progress is the weight-averaged progress
of its conclusive key results; with none conclusive it is inconclusive itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.commercial.kpis import KpiValue, Period, kpi_value
from recompra.errors import NotFound
from recompra.models import KeyResult, Objective

MIN_SAMPLE = 30


@dataclass(frozen=True)
class KeyResultTemplate:
    """A measurable key result: a KPI and the change wanted (relative or absolute)."""

    key: str
    title_pt: str
    title_en: str
    kpi: str
    #: Target = start × (1 + change) when ``relative``, start + change otherwise.
    change: float
    relative: bool = True
    segment: str | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class ObjectiveTemplate:
    """An objective of seed 003 with its key results rewritten to be measurable."""

    key: str
    title_pt: str
    title_en: str
    key_results: tuple[KeyResultTemplate, ...]


#: Seed 003's five OKRs; docs/commercial.md says what each replaced and why.
TEMPLATES: tuple[ObjectiveTemplate, ...] = (
    ObjectiveTemplate(
        "penetracao",
        "Aumentar a penetração no mercado-alvo",
        "Increase penetration of the target market",
        (
            KeyResultTemplate(
                "clientes_ativos",
                "Expandir a base de clientes ativos em 20%",
                "Grow the active customer base by 20%",
                "active_customers",
                0.20,
            ),
            KeyResultTemplate(
                "frequencia",
                "Aumentar a frequência média de compra em 15%",
                "Raise average purchase frequency by 15%",
                "orders_per_customer",
                0.15,
            ),
            KeyResultTemplate(
                "novos_leads",
                "Aumentar os leads qualificados em 20%",
                "Grow qualified leads by 20%",
                "lead_count",
                0.20,
            ),
        ),
    ),
    ObjectiveTemplate(
        "relacionamento",
        "Melhorar o relacionamento com clientes-chave",
        "Improve relationships with key customers",
        (
            KeyResultTemplate(
                "clv",
                "Aumentar o CLV previsto médio em 25%",
                "Raise mean predicted CLV by 25%",
                "mean_predicted_clv",
                0.25,
            ),
            KeyResultTemplate(
                "promotores",
                "Aumentar a parcela de avaliações 5 estrelas em 5 pontos percentuais",
                "Raise the share of 5-star reviews by 5 percentage points",
                "promoter_share",
                0.05,
                relative=False,
            ),
        ),
    ),
    ObjectiveTemplate(
        "funil",
        "Otimizar o funil de vendas",
        "Optimise the sales funnel",
        (
            KeyResultTemplate(
                "conversao",
                "Aumentar a taxa de conversão de leads em 10%",
                "Raise lead conversion by 10%",
                "lead_conversion_rate",
                0.10,
            ),
            KeyResultTemplate(
                "cac",
                "Reduzir o CAC B2B em 15%",
                "Cut B2B CAC by 15%",
                "cac_b2b_blended",
                -0.15,
            ),
            KeyResultTemplate(
                "ciclo",
                "Reduzir a mediana de dias até o fechamento em 20%",
                "Cut median days to close by 20%",
                "median_days_to_close",
                -0.20,
            ),
        ),
    ),
    ObjectiveTemplate(
        "parcerias",
        "Expandir parcerias estratégicas",
        "Expand strategic partnerships",
        (
            KeyResultTemplate(
                "novos_parceiros",
                "Fechar 15 novos parceiros (vendedores) a mais",
                "Close 15 more partners (sellers)",
                "won_deals",
                15,
                relative=False,
            ),
        ),
    ),
    ObjectiveTemplate(
        "retencao",
        "Aumentar a retenção de clientes",
        "Increase customer retention",
        (
            KeyResultTemplate(
                "recompra",
                "Aumentar a taxa de recompra em 20%",
                "Raise the repeat-purchase rate by 20%",
                "repeat_rate",
                0.20,
            ),
            KeyResultTemplate(
                "reclamacoes",
                "Reduzir a parcela de avaliações 1–2 estrelas em 20%",
                "Cut the share of 1–2 star reviews by 20%",
                "low_review_share",
                -0.20,
            ),
        ),
    ),
)


def progress(current: float, start: float, target: float) -> float:
    """clamp((current − start) / (target − start), 0, 1)."""
    return min(1.0, max(0.0, (current - start) / (target - start)))


@dataclass(frozen=True)
class KeyResultStatus:
    """A key result, its KPI now and its progress (None when inconclusive)."""

    key: str
    title_pt: str
    title_en: str
    kpi: str
    segment: str | None
    start: float
    target: float
    weight: float
    current: KpiValue
    progress: float | None
    inconclusive: str | None


@dataclass
class ObjectiveStatus:
    """An objective with its key results and weighted progress."""

    key: str
    title_pt: str
    title_en: str
    progress: float | None
    key_results: list[KeyResultStatus] = field(default_factory=list)


def judge(current: KpiValue, start: float, target: float) -> tuple[float | None, str | None]:
    """Progress of a KPI value, or why it is inconclusive."""
    if current.value is None:
        return None, current.missing or "no value"
    if current.sample < MIN_SAMPLE:
        return None, f"sample of {current.sample} < {MIN_SAMPLE}"
    low, high = current.ci_low, current.ci_high
    if low is not None and high is not None and high - low > abs(target - start):
        return None, "the 95% interval is wider than the change targeted"
    return progress(current.value, start, target), None


def objective_status(session: Session, objective: Objective) -> ObjectiveStatus:
    """Every key result of ``objective`` judged on its live KPI."""
    period = Period(objective.period_start, objective.period_end)
    status = ObjectiveStatus(objective.key, objective.title_pt, objective.title_en, None)
    results = session.scalars(
        select(KeyResult).where(KeyResult.objective_id == objective.id).order_by(KeyResult.id)
    ).all()
    for kr in results:
        current = kpi_value(
            session, brand_id=objective.brand_id, kpi=kr.kpi, segment=kr.segment, period=period
        )
        value, reason = judge(current, kr.start, kr.target)
        status.key_results.append(
            KeyResultStatus(
                kr.key,
                kr.title_pt,
                kr.title_en,
                kr.kpi,
                kr.segment,
                kr.start,
                kr.target,
                kr.weight,
                current,
                value,
                reason,
            )
        )
    conclusive = [k for k in status.key_results if k.progress is not None]
    if conclusive:
        total = sum(k.weight for k in conclusive)
        status.progress = sum(k.weight * (k.progress or 0.0) for k in conclusive) / total
    return status


def objectives(session: Session, *, brand_id: int) -> list[Objective]:
    """The brand's objectives in creation order."""
    return list(
        session.scalars(
            select(Objective).where(Objective.brand_id == brand_id).order_by(Objective.id)
        )
    )


def objective(session: Session, *, brand_id: int, key: str) -> Objective:
    """One objective by key."""
    found = session.scalar(
        select(Objective).where(Objective.brand_id == brand_id, Objective.key == key)
    )
    if found is None:
        raise NotFound(f"objective {key!r} not found")
    return found


def install_templates(
    session: Session,
    *,
    brand_id: int,
    period_start: date | None = None,
    period_end: date | None = None,
) -> list[str]:
    """Create the seed objectives (once), starting each KR at its KPI's current value.

    A key result whose KPI has no value yet (no spend for CAC, no scores for CLV) is
    skipped and named in the returned list, so nothing starts from an invented zero; a
    later run adds it once the KPI has data.
    """
    skipped: list[str] = []
    for template in TEMPLATES:
        found = session.scalar(
            select(Objective).where(Objective.brand_id == brand_id, Objective.key == template.key)
        )
        obj = found or Objective(
            brand_id=brand_id,
            key=template.key,
            title_pt=template.title_pt,
            title_en=template.title_en,
            period_start=period_start,
            period_end=period_end,
        )
        session.add(obj)
        session.flush()
        present = set(
            session.scalars(select(KeyResult.key).where(KeyResult.objective_id == obj.id))
        )
        for kr in template.key_results:
            if kr.key in present:
                continue
            period = Period(obj.period_start, obj.period_end)
            now = kpi_value(
                session, brand_id=brand_id, kpi=kr.kpi, segment=kr.segment, period=period
            )
            if now.value is None or now.value == 0:
                skipped.append(f"{template.key}/{kr.key}: {now.missing or 'KPI is zero'}")
                continue
            target = now.value * (1 + kr.change) if kr.relative else now.value + kr.change
            session.add(
                KeyResult(
                    objective_id=obj.id,
                    key=kr.key,
                    title_pt=kr.title_pt,
                    title_en=kr.title_en,
                    kpi=kr.kpi,
                    segment=kr.segment,
                    start=now.value,
                    target=target,
                    weight=kr.weight,
                )
            )
        session.flush()
    return skipped
