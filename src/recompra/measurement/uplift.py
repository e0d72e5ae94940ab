"""Uplift per journey and per node, read from the database: who entered (runs), their
arm (the journey's stable-hash holdout), and their orders within the window after entry.

Intention to treat at journey level: every customer who entered a version with a
holdout node counts in the arm the hash assigns them, whether or not they reached a
message (a condition may route them past it); the first run per customer is the entry.
Per node: the same comparison (arm, outcome window from entry) restricted to the entrants
whose first run decided that send node (an outbox row, "would have sent" for the
holdout). One definition of incremental revenue, so a journey whose every entrant reaches
its one message shows the same figure for the journey and for the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.automation.schedule import in_holdout
from recompra.measurement.analysis import TARGET_RELATIVE_MDE, Comparison, compare, entries_per_day
from recompra.measurement.attribution import (
    AttributionWindows,
    Response,
    Responses,
    attribute,
    node_of,
)
from recompra.measurement.frames import clv_scores, purchases, read_frame
from recompra.models.automation import Journey, JourneyRun, JourneyVersion, OutboxMessage

if TYPE_CHECKING:
    # Types only: targeting imports scikit-learn, which the API server must not load
    # at start-up (issue 20); journey_targeting imports it when it runs.
    from recompra.measurement.targeting import FloatArray, TargetingResult

#: Orders within this many days after entry count as the journey's outcome.
WINDOW_DAYS = 30
#: Outbox states of a send decided for a customer (held out or not); ``suppressed`` rows
#: are left out in both arms alike.
DECIDED = ("pending", "sending", "sent", "failed", "unknown", "held_out")


@dataclass(frozen=True)
class Settings:
    """What a report measures: the outcome window, target MDE and attribution windows."""

    window_days: int = WINDOW_DAYS
    target_relative_mde: float = TARGET_RELATIVE_MDE
    attribution: AttributionWindows = field(default_factory=AttributionWindows)


@dataclass(frozen=True)
class NodeUplift:
    """A send node's holdout comparison and its campaign response."""

    node: str
    channel: str
    comparison: Comparison | None
    response: Response


@dataclass(frozen=True)
class JourneyUplift:
    """A journey's report; ``comparison`` is ``None`` with ``reason`` when none is possible."""

    key: str
    name: dict[str, str]
    status: str
    holdout_percent: float | None
    entered: int
    matured: int
    covariate: str | None
    comparison: Comparison | None
    reason: str | None
    response: Response
    nodes: list[NodeUplift]
    #: The campaign response KPI per customer segment (current RFM segment).
    segments: dict[str, Response] = field(default_factory=dict)
    #: Uplift models judged on a held-out split; empty with ``targeting_reason`` otherwise.
    targeting: list[TargetingResult] = field(default_factory=list)
    targeting_reason: str | None = "too_little_holdout_data"


def holdout_percent(document: dict[str, Any]) -> float | None:
    percents = [n["percent"] for n in document["nodes"].values() if n["type"] == "holdout"]
    return float(percents[0]) if percents else None


def _outcomes(entries: pd.DataFrame, orders: pd.DataFrame, *, window: timedelta) -> pd.DataFrame:
    """``entries`` with ``orders`` and ``revenue_minor`` placed in
    ``(started_at, started_at + window]``."""
    joined = entries[["customer_id", "started_at"]].merge(orders, on="customer_id")
    inside = joined[
        (joined["purchased_at"] > joined["started_at"])
        & (joined["purchased_at"] <= joined["started_at"] + window)
    ]
    totals = inside.groupby("customer_id").agg(
        orders=("total_minor", "size"), revenue_minor=("total_minor", "sum")
    )
    out = entries.merge(totals, left_on="customer_id", right_index=True, how="left")
    out["orders"] = out["orders"].fillna(0).astype(np.int64)
    out["revenue_minor"] = out["revenue_minor"].fillna(0).astype(np.int64)
    return out


def cuped_covariate(
    session: Session, brand_id: int, entries: pd.DataFrame, orders: pd.DataFrame
) -> tuple[str, pd.Series]:
    """The pre-entry covariate for CUPED: predicted CLV from the last scores dated before
    entry when most entrants have one, else revenue in the 365 days before entry."""
    scores = clv_scores(session, brand_id=brand_id)
    scores = scores[scores["customer_id"].isin(entries["customer_id"])]
    if not scores.empty:
        left = entries[["customer_id", "started_at"]].sort_values("started_at")
        matched = pd.merge_asof(
            left,
            scores,
            left_on="started_at",
            right_on="known_at",
            by="customer_id",
            allow_exact_matches=True,
        ).set_index("customer_id")["clv_minor"]
        if matched.notna().mean() >= 0.5:
            clv = entries["customer_id"].map(matched).astype(float)
            return "predicted_clv", clv.fillna(clv.mean())
    before = entries[["customer_id", "started_at"]].merge(orders, on="customer_id")
    before = before[
        (before["purchased_at"] <= before["started_at"])
        & (before["purchased_at"] > before["started_at"] - pd.Timedelta(days=365))
    ]
    spent = before.groupby("customer_id")["total_minor"].sum()
    return "pre_period_revenue", entries["customer_id"].map(spent).fillna(0).astype(float)


def journey_uplift(
    session: Session,
    *,
    brand_id: int,
    now: datetime,
    journey_key: str | None = None,
    settings: Settings | None = None,
) -> list[JourneyUplift]:
    """The uplift report of every journey of the brand (or of ``journey_key``)."""
    settings = settings or Settings()
    query = select(Journey).where(Journey.brand_id == brand_id).order_by(Journey.key)
    if journey_key is not None:
        query = query.where(Journey.key == journey_key)
    journeys = session.scalars(query).all()
    responses = attribute(session, brand_id=brand_id, windows=settings.attribution)
    return [_one(session, journey, now, settings, responses) for journey in journeys]


def _entries(session: Session, journey: Journey) -> tuple[dict[int, Any], pd.DataFrame]:
    """The journey's versions' documents, and each customer's first run of a version
    with a holdout (with that version's ``percent``)."""
    documents: dict[int, dict[str, Any]] = dict(
        session.execute(
            select(JourneyVersion.version, JourneyVersion.definition).where(
                JourneyVersion.journey_id == journey.id
            )
        ).all()
    )
    percents = {version: holdout_percent(doc) for version, doc in documents.items()}
    runs = read_frame(
        session,
        select(JourneyRun.id, JourneyRun.customer_id, JourneyRun.version, JourneyRun.started_at)
        .where(JourneyRun.journey_id == journey.id)
        .order_by(JourneyRun.started_at, JourneyRun.id),
        ["run_id", "customer_id", "version", "started_at"],
    )
    runs["percent"] = runs["version"].map(percents)
    return documents, runs[runs["percent"].notna()].drop_duplicates("customer_id")


def _frame(
    session: Session,
    journey: Journey,
    matured: pd.DataFrame,
    orders: pd.DataFrame,
    window: timedelta,
) -> tuple[str, pd.DataFrame]:
    """Matured entrants with their arm (the stable hash), outcomes and CUPED covariate."""
    matured = matured.assign(
        holdout=[
            in_holdout(journey.key, int(c), float(p))
            for c, p in zip(matured["customer_id"], matured["percent"], strict=True)
        ]
    )
    frame = _outcomes(matured, orders, window=window)
    covariate, frame["covariate"] = cuped_covariate(session, journey.brand_id, frame, orders)
    return covariate, frame


def journey_frame(
    session: Session, journey: Journey, *, now: datetime, window_days: int = WINDOW_DAYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The entrants whose window has closed (arm, outcomes, covariate) and the brand's
    purchases: what the uplift models are fitted on."""
    _, entries = _entries(session, journey)
    window = timedelta(days=window_days)
    matured = entries[entries["started_at"] + window <= pd.Timestamp(now)]
    orders = purchases(session, brand_id=journey.brand_id)
    return _frame(session, journey, matured, orders, window)[1], orders


def _one(
    session: Session,
    journey: Journey,
    now: datetime,
    settings: Settings,
    responses: Responses,
) -> JourneyUplift:
    documents, entries = _entries(session, journey)
    current = documents[journey.current_version]
    percents = {version: holdout_percent(doc) for version, doc in documents.items()}
    window = timedelta(days=settings.window_days)
    matured = entries[entries["started_at"] + window <= pd.Timestamp(now)].copy()
    comparison: Comparison | None = None
    covariate: str | None = None
    nodes: list[NodeUplift] = []
    targeting: list[TargetingResult] = []
    if entries.empty:
        has_holdout = any(p is not None for p in percents.values())
        reason: str | None = "no_entries" if has_holdout else "no_holdout"
    else:
        orders = purchases(session, brand_id=journey.brand_id)
        rate = entries_per_day(entries["started_at"], today=now.date())
        share = float(entries["percent"].mean()) / 100
        reason = "window_not_elapsed"
        frame: pd.DataFrame | None = None
        if not matured.empty:
            covariate, frame = _frame(session, journey, matured, orders, window)
            if frame["holdout"].all() or not frame["holdout"].any():
                reason = "one_arm_empty"
            else:
                comparison = compare(
                    frame,
                    holdout_share=float(frame["percent"].mean()) / 100,
                    entries_per_day=rate,
                    entered=len(entries),
                    covariate=covariate,
                    target_relative_mde=settings.target_relative_mde,
                )
                reason = None
                targeting = journey_targeting(frame, orders)
        nodes = _nodes(session, journey, entries, frame, settings, responses.by_node, rate, share)
    return JourneyUplift(
        key=journey.key,
        name=current.get("name", {}),
        status=journey.status,
        holdout_percent=holdout_percent(current),
        entered=len(entries),
        matured=len(matured),
        covariate=covariate,
        comparison=comparison,
        reason=reason,
        response=responses.by_node.get((journey.key, None), Response()),
        segments={
            segment: response
            for (key, segment), response in responses.by_segment.items()
            if key == journey.key
        },
        nodes=nodes,
        targeting=targeting,
        targeting_reason=None if targeting else "too_little_holdout_data",
    )


#: Converters needed in each arm before uplift models are fitted: fewer and the held-out
#: split cannot tell a ranking from noise.
TARGETING_MIN_CONVERTERS = 100


def journey_targeting(frame: pd.DataFrame, orders: pd.DataFrame) -> list[TargetingResult]:
    """Uplift models judged on a held-out split, when both arms have enough converters."""
    converted = frame["orders"] > 0
    held = frame["holdout"].astype(bool)
    if min((converted & held).sum(), (converted & ~held).sum()) < TARGETING_MIN_CONVERTERS:
        return []
    x = targeting_features(frame, orders)
    from recompra.measurement.targeting import evaluate_targeting

    return evaluate_targeting(x, ~held.to_numpy(), converted.to_numpy())


def targeting_features(frame: pd.DataFrame, orders: pd.DataFrame) -> FloatArray:
    """log1p of recency, frequency and monetary value before ``started_at``, and the
    CUPED ``covariate``, per row of ``frame``."""
    before = frame[["customer_id", "started_at"]].merge(orders, on="customer_id")
    before = before[before["purchased_at"] <= before["started_at"]]
    grouped = before.groupby("customer_id")
    days = (frame.set_index("customer_id")["started_at"] - grouped["purchased_at"].max()).dt.days
    features = pd.DataFrame(
        {
            "recency": frame["customer_id"].map(days).fillna(3_650),
            "frequency": frame["customer_id"].map(grouped.size()).fillna(0),
            "monetary": frame["customer_id"].map(grouped["total_minor"].sum()).fillna(0),
            "covariate": frame["covariate"].clip(lower=0),
        }
    )
    return np.asarray(np.log1p(features.to_numpy(np.float64)), dtype=np.float64)


def _nodes(
    session: Session,
    journey: Journey,
    entries: pd.DataFrame,
    frame: pd.DataFrame | None,
    settings: Settings,
    responses: dict[tuple[str, str | None], Response],
    rate: float,
    holdout_share: float,
) -> list[NodeUplift]:
    """Per send node: the journey's comparison restricted to the ``entries`` (first runs)
    that decided the node; ``frame`` is the journey's matured entrants with their arm and
    outcomes (``None`` before any window closed). Past a holdout node the arms keep the
    hash's share, so the node's SRM check uses the journey's planned share too."""
    statement = (
        select(OutboxMessage.run_id, OutboxMessage.execution_key, OutboxMessage.channel)
        .join(JourneyRun, JourneyRun.id == OutboxMessage.run_id)
        .where(
            JourneyRun.journey_id == journey.id,
            OutboxMessage.state.in_(DECIDED),
            OutboxMessage.channel != "points",
        )
        .order_by(OutboxMessage.decided_at, OutboxMessage.id)
    )
    decided = read_frame(session, statement, ["run_id", "execution_key", "channel"])
    if decided.empty:
        return []
    decided["node"] = decided["execution_key"].map(node_of)
    result = []
    for (node, channel), group in decided.groupby(["node", "channel"], sort=True):
        runs = group["run_id"]
        comparison = None
        if frame is not None:
            reached = frame[frame["run_id"].isin(runs)]
            held = reached["holdout"].astype(bool)
            if held.any() and not held.all():
                comparison = compare(
                    reached,
                    holdout_share=holdout_share,
                    entries_per_day=rate,
                    entered=int(entries["run_id"].isin(runs).sum()),
                    target_relative_mde=settings.target_relative_mde,
                )
        key = (journey.key, str(node))
        result.append(
            NodeUplift(str(node), str(channel), comparison, responses.get(key, Response()))
        )
    return result
