"""Maturity assessment: seed 003's five levels over six dimensions, self-assessed through
a questionnaire and capped by evidence gates computed from the store's own data.

For each dimension the questionnaire asks four statements, one per level 2..5; the
self-assessed level is 1 + the number of consecutive statements answered "yes" from level
2 up. Each level also has an *evidence gate*, a query on the store's data. The assessed
level is the highest level whose own gate and all gates below it pass, but never above
the self-assessment: a store cannot claim a level its data does not show. The report
names, for each dimension, what blocks the next level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.models import (
    CustomerScore,
    ForecastBacktest,
    ImportRun,
    KeyResult,
    Lead,
    LoyaltyProgram,
    MaturityAnswer,
    Objective,
    Opportunity,
    Order,
    Review,
    StageChange,
)
from recompra.models.automation import Journey, JourneyRun
from recompra.models.segments import Segment, SegmentGoal

#: Seed 003's scale (pt-BR, en).
LEVELS: dict[int, tuple[str, str]] = {
    1: ("Inexistente", "Non-existent"),
    2: ("Inicial", "Initial"),
    3: ("Repetitivo", "Repeatable"),
    4: ("Gerenciado", "Managed"),
    5: ("Otimizado", "Optimised"),
}
#: Stage history must cover this share of opportunities for pipeline level 3.
STAGE_HISTORY_SHARE = 0.8
#: Holdout and treated journey runs each need this many members for journeys level 4.
MIN_GROUP = 30


def _count(session: Session, statement: object) -> int:
    return int(session.scalar(statement) or 0)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Gate:
    """The evidence for one level: a check on the data and what it means (pt-BR, en)."""

    question_pt: str
    question_en: str
    evidence_pt: str
    evidence_en: str
    check: Callable[[Session, int], bool]


def _orders(s: Session, b: int) -> bool:
    return _count(s, select(func.count()).where(Order.brand_id == b)) > 0


def _finished_import(s: Session, b: int) -> bool:
    statement = select(func.count()).where(ImportRun.brand_id == b, ImportRun.status == "finished")
    return _count(s, statement) > 0


def _reviews(s: Session, b: int) -> bool:
    return _count(s, select(func.count()).where(Review.brand_id == b)) > 0


def _scores(s: Session, b: int) -> bool:
    return _count(s, select(func.count()).where(CustomerScore.brand_id == b)) > 0


def _segments(s: Session, b: int) -> bool:
    statement = select(func.count()).where(Segment.brand_id == b, Segment.status == "active")
    return _count(s, statement) > 0


def _clv(s: Session, b: int) -> bool:
    statement = select(func.count()).where(
        CustomerScore.brand_id == b, CustomerScore.clv_minor.is_not(None)
    )
    return _count(s, statement) > 0


def _segment_goals(s: Session, b: int) -> bool:
    statement = (
        select(func.count()).select_from(SegmentGoal).join(Segment).where(Segment.brand_id == b)
    )
    return _count(s, statement) > 0


def _journey_or_program(s: Session, b: int) -> bool:
    journeys = _count(s, select(func.count()).where(Journey.brand_id == b))
    programs = _count(s, select(func.count()).where(LoyaltyProgram.brand_id == b))
    return journeys + programs > 0


def _journey_runs(s: Session, b: int) -> bool:
    statement = (
        select(func.count()).select_from(JourneyRun).join(Journey).where(Journey.brand_id == b)
    )
    return _count(s, statement) > 0


def _holdout(s: Session, b: int) -> bool:
    base = select(func.count()).select_from(JourneyRun).join(Journey).where(Journey.brand_id == b)
    held = _count(s, base.where(JourneyRun.holdout.is_(True)))
    treated = _count(s, base.where(JourneyRun.holdout.is_(False)))
    return held >= MIN_GROUP and treated >= MIN_GROUP


def _program_and_holdout(s: Session, b: int) -> bool:
    programs = _count(s, select(func.count()).where(LoyaltyProgram.brand_id == b))
    return programs > 0 and _holdout(s, b)


def _answered_reviews(s: Session, b: int) -> bool:
    total = _count(s, select(func.count()).where(Review.brand_id == b))
    answered = _count(
        s, select(func.count()).where(Review.brand_id == b, Review.answered_at.is_not(None))
    )
    return total > 0 and answered / total >= 0.5


def _review_journey(s: Session, b: int) -> bool:
    statement = select(func.count()).where(Journey.brand_id == b, Journey.status == "active")
    return _reviews(s, b) and _count(s, statement) > 0


def _pipeline(s: Session, b: int) -> bool:
    leads = _count(s, select(func.count()).where(Lead.brand_id == b))
    deals = _count(s, select(func.count()).where(Opportunity.brand_id == b))
    return leads + deals > 0


def _stage_history(s: Session, b: int) -> bool:
    total = _count(s, select(func.count()).where(Opportunity.brand_id == b))
    with_history = _count(
        s,
        select(func.count(func.distinct(StageChange.opportunity_id)))
        .join(Opportunity, Opportunity.id == StageChange.opportunity_id)
        .where(Opportunity.brand_id == b),
    )
    lost = _count(
        s, select(func.count()).where(Opportunity.brand_id == b, Opportunity.status == "lost")
    )
    return total > 0 and with_history / total >= STAGE_HISTORY_SHARE and lost > 0


def _backtests(s: Session, b: int) -> bool:
    return _count(s, select(func.count()).where(ForecastBacktest.brand_id == b)) > 0


def _scored_leads(s: Session, b: int) -> bool:
    statement = select(func.count()).where(Lead.brand_id == b, Lead.score.is_not(None))
    return _backtests(s, b) and _count(s, statement) > 0


def _objectives(s: Session, b: int) -> bool:
    return _count(s, select(func.count()).where(Objective.brand_id == b)) > 0


def _bound_krs(s: Session, b: int) -> bool:
    statement = (
        select(func.count()).select_from(KeyResult).join(Objective).where(Objective.brand_id == b)
    )
    return _count(s, statement) > 0


def _timed_okrs(s: Session, b: int) -> bool:
    statement = select(func.count()).where(
        Objective.brand_id == b, Objective.period_start.is_not(None)
    )
    return _bound_krs(s, b) and _count(s, statement) > 0


def _okrs_and_goals(s: Session, b: int) -> bool:
    return _timed_okrs(s, b) and _segment_goals(s, b)


def _gate(
    q_pt: str, q_en: str, e_pt: str, e_en: str, check: Callable[[Session, int], bool]
) -> Gate:
    return Gate(q_pt, q_en, e_pt, e_en, check)


#: Dimension key -> (name pt-BR, name en, gates of levels 2, 3, 4, 5).
DIMENSIONS: dict[str, tuple[str, str, tuple[Gate, Gate, Gate, Gate]]] = {
    "data_hub": (
        "Dados e hub de clientes",
        "Data & customer hub",
        (
            _gate(
                "Os pedidos estão reunidos em um só lugar?",
                "Are orders gathered in one place?",
                "há pedidos no hub",
                "the hub holds orders",
                _orders,
            ),
            _gate(
                "As importações são repetíveis e auditadas?",
                "Are imports repeatable and audited?",
                "uma importação terminou com relatório",
                "an import run finished with a report",
                _finished_import,
            ),
            _gate(
                "Avaliações e pós-venda estão ligados aos pedidos?",
                "Are reviews and after-sale data linked to orders?",
                "há avaliações no hub",
                "the hub holds reviews",
                _reviews,
            ),
            _gate(
                "Os clientes são pontuados continuamente?",
                "Are customers scored continuously?",
                "há pontuações de clientes",
                "customer scores exist",
                _scores,
            ),
        ),
    ),
    "segmentation_clv": (
        "Segmentação e CLV",
        "Segmentation & CLV",
        (
            _gate(
                "Os clientes têm escores RFM?",
                "Do customers have RFM scores?",
                "há pontuações RFM",
                "RFM scores exist",
                _scores,
            ),
            _gate(
                "Há segmentos vivos definidos?",
                "Are live segments defined?",
                "há um segmento ativo",
                "an active segment exists",
                _segments,
            ),
            _gate(
                "O CLV é previsto por cliente?",
                "Is CLV predicted per customer?",
                "há CLV previsto",
                "predicted CLV exists",
                _clv,
            ),
            _gate(
                "Os segmentos têm metas?",
                "Do segments have goals?",
                "há metas por segmento",
                "segment goals exist",
                _segment_goals,
            ),
        ),
    ),
    "journeys_loyalty": (
        "Jornadas e fidelidade",
        "Journeys & loyalty",
        (
            _gate(
                "Existe uma jornada ou programa de fidelidade?",
                "Is there a journey or a loyalty programme?",
                "há jornada ou programa",
                "a journey or programme exists",
                _journey_or_program,
            ),
            _gate(
                "As jornadas rodam automaticamente?",
                "Do journeys run automatically?",
                "há execuções de jornadas",
                "journey runs exist",
                _journey_runs,
            ),
            _gate(
                "As jornadas têm grupo de controle e uplift medido?",
                "Do journeys have a holdout and a measured uplift?",
                f"≥ {MIN_GROUP} membros em holdout e tratados",
                f"≥ {MIN_GROUP} holdout and treated members",
                _holdout,
            ),
            _gate(
                "Fidelidade e jornadas são otimizadas por testes?",
                "Are loyalty and journeys optimised by tests?",
                "programa de fidelidade e holdout",
                "a loyalty programme and a holdout",
                _program_and_holdout,
            ),
        ),
    ),
    "feedback_complaints": (
        "Opiniões e reclamações",
        "Feedback & complaints",
        (
            _gate(
                "As opiniões dos clientes são coletadas?",
                "Is customer feedback collected?",
                "há avaliações",
                "reviews exist",
                _reviews,
            ),
            _gate(
                "As avaliações são respondidas?",
                "Are reviews answered?",
                "≥ 50% das avaliações respondidas",
                "≥ 50% of reviews answered",
                _answered_reviews,
            ),
            _gate(
                "As opiniões disparam ações automáticas?",
                "Does feedback trigger automated actions?",
                "há avaliações e uma jornada ativa",
                "reviews and an active journey",
                _review_journey,
            ),
            _gate(
                "O efeito das ações sobre as opiniões é medido?",
                "Is the effect of actions on feedback measured?",
                "jornada com holdout",
                "a journey with a holdout",
                _holdout,
            ),
        ),
    ),
    "pipeline_forecast": (
        "Pipeline e previsão",
        "Pipeline & forecast",
        (
            _gate(
                "Leads e oportunidades são registrados?",
                "Are leads and opportunities recorded?",
                "há leads ou oportunidades",
                "leads or opportunities exist",
                _pipeline,
            ),
            _gate(
                "Cada oportunidade passa por etapas e as perdas têm motivo?",
                "Does every opportunity move through stages, with lost reasons?",
                f"histórico de etapas em ≥ {STAGE_HISTORY_SHARE:.0%} das oportunidades e "
                "perdas registradas com motivo",
                f"stage history on ≥ {STAGE_HISTORY_SHARE:.0%} of opportunities and lost "
                "deals recorded with a reason",
                _stage_history,
            ),
            _gate(
                "A previsão de negócios é testada contra o realizado?",
                "Is the deal forecast back-tested against actuals?",
                "há back-tests de previsão gravados",
                "stored forecast back-tests",
                _backtests,
            ),
            _gate(
                "Os leads são pontuados e a previsão é acompanhada?",
                "Are leads scored and the forecast tracked?",
                "leads pontuados e back-tests gravados",
                "scored leads and stored back-tests",
                _scored_leads,
            ),
        ),
    ),
    "kpis_okrs": (
        "KPIs e OKRs",
        "KPIs & OKRs",
        (
            _gate(
                "Há objetivos definidos?",
                "Are objectives defined?",
                "há objetivos",
                "objectives exist",
                _objectives,
            ),
            _gate(
                "Os resultados-chave estão ligados a KPIs vivos?",
                "Are key results bound to live KPIs?",
                "há resultados-chave ligados",
                "bound key results exist",
                _bound_krs,
            ),
            _gate(
                "Os OKRs têm período definido?",
                "Do OKRs have a period?",
                "OKRs com período",
                "OKRs with a period",
                _timed_okrs,
            ),
            _gate(
                "OKRs e metas por segmento andam juntos?",
                "Do OKRs and segment goals work together?",
                "OKRs com período e metas por segmento",
                "timed OKRs and segment goals",
                _okrs_and_goals,
            ),
        ),
    ),
}


@dataclass
class DimensionResult:
    """One dimension: claimed level, evidence cap, assessed level and the next step."""

    key: str
    name_pt: str
    name_en: str
    claimed: int | None
    evidence_level: int
    level: int
    #: What the data lacks for the next level (pt-BR, en); None at level 5.
    blocker_pt: str | None
    blocker_en: str | None
    next_question_pt: str | None
    next_question_en: str | None
    gates: dict[int, bool] = field(default_factory=dict)


def claimed_level(answers: list[bool]) -> int:
    """1 + the number of consecutive "yes" answers from the level-2 statement up."""
    level = 1
    for yes in answers:
        if not yes:
            break
        level += 1
    return level


def assess(session: Session, *, brand_id: int) -> list[DimensionResult]:
    """Every dimension assessed: evidence gates, capped by the stored self-assessment."""
    stored = {
        a.dimension: a.level
        for a in session.scalars(select(MaturityAnswer).where(MaturityAnswer.brand_id == brand_id))
    }
    results = []
    for key, (name_pt, name_en, gates) in DIMENSIONS.items():
        passed = {level: gate.check(session, brand_id) for level, gate in enumerate(gates, 2)}
        evidence = 1
        for level in range(2, 6):
            if not passed[level]:
                break
            evidence = level
        claimed = stored.get(key)
        level = min(evidence, claimed) if claimed is not None else evidence
        nxt = gates[level - 1] if level < 5 else None
        blocked = nxt is not None and not passed[level + 1]
        results.append(
            DimensionResult(
                key=key,
                name_pt=name_pt,
                name_en=name_en,
                claimed=claimed,
                evidence_level=evidence,
                level=level,
                blocker_pt=nxt.evidence_pt if nxt and blocked else None,
                blocker_en=nxt.evidence_en if nxt and blocked else None,
                next_question_pt=nxt.question_pt if nxt else None,
                next_question_en=nxt.question_en if nxt else None,
                gates=passed,
            )
        )
    return results


def save_answers(session: Session, *, brand_id: int, answers: dict[str, list[bool]]) -> None:
    """Store the questionnaire: per dimension, the yes/no answers of levels 2..5."""
    for key, values in answers.items():
        if key not in DIMENSIONS:
            raise KeyError(key)
        level = claimed_level(values)
        row = session.scalar(
            select(MaturityAnswer).where(
                MaturityAnswer.brand_id == brand_id, MaturityAnswer.dimension == key
            )
        )
        if row is None:
            session.add(MaturityAnswer(brand_id=brand_id, dimension=key, level=level))
        else:
            row.level = level
    session.flush()
