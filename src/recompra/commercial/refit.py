"""Lead-score fits and their schedule.

A fit cross-validates both lead-score models (``leadscore.MODELS``) on the brand's
funnel, keeps the one with the higher AUC, writes its probability on every lead and
records the fit (``lead_score_fits``: version, model, AUC, lift, the leads it saw). The
worker runs :class:`LeadScoreRefit` on every pass: a brand is refitted when it has never
been fitted, when its last fit is older than ``RECOMPRA_LEAD_SCORE_REFIT_DAYS`` or when
``RECOMPRA_LEAD_SCORE_REFIT_LEADS`` leads arrived since (docs/commercial.md).

Several workers may run the job at once (PostgreSQL). Each brand's fit holds the brand's
row lock (``FOR NO KEY UPDATE``), taken with ``SKIP LOCKED``: a worker that finds the
brand locked leaves it to the one fitting it, and the due check runs again under the
lock, so a fit another worker has just committed is seen. Without it two workers running
at once both fitted the brand (two versions, twice the work), or the second died on the
``(brand_id, version)`` unique key when their reads interleaved. SQLite runs one writer
at a time, and the check inside the write transaction sees the earlier fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from recompra.commercial.frames import funnel_frame
from recompra.commercial.leadscore import MODELS, ModelReport, evaluate, score
from recompra.commercial.service import store_lead_scores
from recompra.models import Brand, Lead, LeadScoreFit, Opportunity


class RefitSettings(BaseSettings):
    """``RECOMPRA_LEAD_SCORE_REFIT_DAYS`` and ``RECOMPRA_LEAD_SCORE_REFIT_LEADS``."""

    model_config = SettingsConfigDict(env_prefix="RECOMPRA_", extra="ignore")

    #: Refit when the last fit is at least this many days old.
    lead_score_refit_days: int = Field(default=7, ge=1)
    #: Refit when at least this many leads arrived since the last fit.
    lead_score_refit_leads: int = Field(default=500, ge=1)


@dataclass(frozen=True)
class LeadScoreOutcome:
    """What one fit did: both models' reports, the stored fit and how many leads it scored."""

    reports: list[ModelReport]
    fit: LeadScoreFit
    scored: int


def latest_fit(session: Session, *, brand_id: int) -> LeadScoreFit | None:
    """The brand's most recent fit (highest version), if any."""
    return session.scalars(
        select(LeadScoreFit)
        .where(LeadScoreFit.brand_id == brand_id)
        .order_by(LeadScoreFit.version.desc())
        .limit(1)
    ).first()


def can_fit(leads: int, converted: int) -> bool:
    """A classifier needs leads that converted and leads that did not."""
    return 0 < converted < leads


def fit_lead_scores(session: Session, *, brand_id: int, at: datetime) -> LeadScoreOutcome | None:
    """Fit both models, store the better one's scores and record the fit.

    ``None`` when the brand's funnel cannot train a model (see :func:`can_fit`).
    """
    frame = funnel_frame(session, brand_id=brand_id)
    if not can_fit(len(frame), int(frame["won"].sum())):
        return None
    reports = [evaluate(frame, name) for name in MODELS]
    best = max(reports, key=lambda r: r.auc)
    scored = store_lead_scores(
        session, lead_ids=frame["lead_id"], scores=score(frame, best.model), at=at
    )
    previous = latest_fit(session, brand_id=brand_id)
    fit = LeadScoreFit(
        brand_id=brand_id,
        version=1 if previous is None else previous.version + 1,
        model=best.model,
        auc=best.auc,
        top_decile_lift=best.top_decile_lift,
        leads=best.leads,
        converted=best.converted,
        fitted_at=at,
    )
    session.add(fit)
    session.flush()
    return LeadScoreOutcome(reports, fit, scored)


def refit_due(
    fit: LeadScoreFit | None,
    *,
    leads: int,
    now: datetime,
    max_age: timedelta,
    new_leads: int,
) -> bool:
    """Never fitted, fitted ``max_age`` ago or longer, or ``new_leads`` leads since."""
    if fit is None:
        return True
    return now - fit.fitted_at >= max_age or leads - fit.leads >= new_leads


class LeadScoreRefit:
    """The worker job that refits each brand's lead score when it is due.

    Every pass costs two grouped counts; the funnel is loaded only for a brand that is
    due and can train a model.
    """

    def __init__(self, *, max_age: timedelta, new_leads: int) -> None:
        self.max_age = max_age
        self.new_leads = new_leads

    @classmethod
    def from_settings(cls, settings: RefitSettings | None = None) -> LeadScoreRefit:
        """The job with the thresholds of ``settings`` (default: the environment)."""
        chosen = settings or RefitSettings()
        return cls(
            max_age=timedelta(days=chosen.lead_score_refit_days),
            new_leads=chosen.lead_score_refit_leads,
        )

    def __call__(self, session: Session, *, now: datetime) -> int:
        """Refit every brand that is due; return how many were refitted."""
        refitted = 0
        for brand_id, count in self._candidates(session, now=now):
            if not _lock_brand(session, brand_id) or not self._due(
                session, brand_id=brand_id, leads=count, now=now
            ):
                continue  # another worker is fitting it, or has just fitted it
            if fit_lead_scores(session, brand_id=brand_id, at=now) is not None:
                refitted += 1
        return refitted

    def pending(self, session: Session, *, now: datetime) -> bool:
        """Whether a brand is due (reads only): the worker opens the job's write
        transaction only then (``automation.worker.CheckedJob``)."""
        return bool(self._candidates(session, now=now))

    def _candidates(self, session: Session, *, now: datetime) -> list[tuple[int, int]]:
        """The brands that can train a model and are due, with their lead counts."""
        leads = {
            int(brand): int(n)
            for brand, n in session.execute(
                select(Lead.brand_id, func.count()).group_by(Lead.brand_id)
            )
        }
        converted = {
            int(brand): int(n)
            for brand, n in session.execute(
                select(Opportunity.brand_id, func.count(distinct(Opportunity.lead_id)))
                .where(Opportunity.status == "won", Opportunity.lead_id.is_not(None))
                .group_by(Opportunity.brand_id)
            )
        }
        return [
            (brand_id, count)
            for brand_id, count in sorted(leads.items())
            if can_fit(count, converted.get(brand_id, 0))
            and self._due(session, brand_id=brand_id, leads=count, now=now)
        ]

    def _due(self, session: Session, *, brand_id: int, leads: int, now: datetime) -> bool:
        fit = latest_fit(session, brand_id=brand_id)
        return refit_due(fit, leads=leads, now=now, max_age=self.max_age, new_leads=self.new_leads)


def _lock_brand(session: Session, brand_id: int) -> bool:
    """Lock the brand's row for this transaction; ``False`` when another one holds it.

    ``FOR NO KEY UPDATE``: rows that merely reference the brand (orders, events, ...) take
    a key-share lock, which this one does not block, so ingest goes on during a fit.
    """
    locked = session.scalar(
        select(Brand.id)
        .where(Brand.id == brand_id)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return locked is not None
