"""Journey definitions in the database: apply (versioned), read, pause and resume.

Transactional: these functions never commit; the caller's unit of work does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.automation.definition import JourneyDefinition
from recompra.automation.feeds import create_cursors_at_end
from recompra.errors import NotFound
from recompra.models.automation import Journey, JourneyRun, JourneyVersion
from recompra.models.base import utcnow


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` did: ``created``, ``versioned`` or ``unchanged``."""

    key: str
    version: int
    outcome: str


@dataclass(frozen=True)
class JourneySummary:
    """A journey as listed: status, version in force and run counts per node."""

    key: str
    name: dict[str, str]
    status: str
    version: int
    trigger: dict[str, Any]
    active_runs: int
    finished_runs: int
    at_node: dict[str, int]


def apply_journey(session: Session, *, brand_id: int, definition: JourneyDefinition) -> ApplyResult:
    """Create the journey or store a new version when the definition changed.

    In-flight runs keep the version they started with, so a new version never moves a
    customer to a node that no longer exists.
    """
    journey = session.scalar(
        select(Journey).where(Journey.brand_id == brand_id, Journey.key == definition.key)
    )
    if journey is None:
        journey = Journey(brand_id=brand_id, key=definition.key, status="active")
        session.add(journey)
        session.flush()
        outcome = "created"
    else:
        if current_definition(session, journey) == definition.document:
            return ApplyResult(definition.key, journey.current_version, "unchanged")
        journey.current_version += 1
        outcome = "versioned"
    session.add(
        JourneyVersion(
            journey_id=journey.id,
            version=journey.current_version,
            definition=definition.document,
        )
    )
    journey.updated_at = utcnow()
    # Journeys react to what happens after they are applied: without cursors at the
    # feeds' current ends, the first journey of an installation with years of orders
    # would greet every past order.
    create_cursors_at_end(session)
    session.flush()
    return ApplyResult(definition.key, journey.current_version, outcome)


def get_journey(session: Session, *, brand_id: int, key: str) -> Journey:
    """The brand's journey ``key`` (raises NotFound)."""
    journey = session.scalar(
        select(Journey).where(Journey.brand_id == brand_id, Journey.key == key)
    )
    if journey is None:
        raise NotFound(f"journey {key!r} not found")
    return journey


def current_definition(session: Session, journey: Journey) -> dict[str, Any]:
    """The canonical definition of the version in force."""
    return definition_at(session, journey.id, journey.current_version)


def definition_at(session: Session, journey_id: int, version: int) -> dict[str, Any]:
    """The canonical definition of one version."""
    document = session.scalar(
        select(JourneyVersion.definition).where(
            JourneyVersion.journey_id == journey_id, JourneyVersion.version == version
        )
    )
    if document is None:
        raise NotFound(f"journey version {journey_id}/{version} not found")
    return dict(document)


def set_status(session: Session, *, brand_id: int, key: str, status: str) -> Journey:
    """Pause (no new entries, due timers wait) or resume a journey."""
    journey = get_journey(session, brand_id=brand_id, key=key)
    journey.status = status
    journey.updated_at = utcnow()
    session.flush()
    return journey


def list_journeys(session: Session, *, brand_id: int) -> list[JourneySummary]:
    """Every journey of the brand with how many runs are at each node."""
    journeys = session.scalars(
        select(Journey).where(Journey.brand_id == brand_id).order_by(Journey.key)
    ).all()
    counts = session.execute(
        select(JourneyRun.journey_id, JourneyRun.state, JourneyRun.node, func.count())
        .join(Journey, Journey.id == JourneyRun.journey_id)
        .where(Journey.brand_id == brand_id)
        .group_by(JourneyRun.journey_id, JourneyRun.state, JourneyRun.node)
    ).all()
    out = []
    for journey in journeys:
        document = current_definition(session, journey)
        at_node: dict[str, int] = {}
        active = finished = 0
        for journey_id, state, node, count in counts:
            if journey_id != journey.id:
                continue
            if state == "active":
                active += count
                at_node[node] = at_node.get(node, 0) + count
            else:
                finished += count
        out.append(
            JourneySummary(
                key=journey.key,
                name=document["name"],
                status=journey.status,
                version=journey.current_version,
                trigger=document["trigger"],
                active_runs=active,
                finished_runs=finished,
                at_node=dict(sorted(at_node.items())),
            )
        )
    return out
