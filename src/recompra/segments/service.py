"""The segment write path: apply versioned definitions, evaluate, record membership.

Every change of membership writes the member row (or deletes it) and appends a
``segment_entered`` / ``segment_exited`` row to ``segment_membership_events`` with the
customer, the segment, the version in force and the time. Services only flush; the
caller's unit of work commits.

Concurrency: a full evaluation locks its segment row (PostgreSQL ``FOR UPDATE``; SQLite
write units of work are serialised by ``BEGIN IMMEDIATE``); an incremental
re-evaluation locks the customers it re-evaluates, in ascending id order, so two orders
of one customer arriving together apply their membership changes one after the other.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, Table, bindparam, delete, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from recompra.db.dialect import is_sqlite
from recompra.errors import Conflict, NotFound
from recompra.loyalty.prepared import Prepared, run
from recompra.models import Customer
from recompra.models.base import utcnow
from recompra.models.segments import (
    Segment,
    SegmentMember,
    SegmentMembershipEvent,
    SegmentVersion,
)
from recompra.segments.compile import CompiledSegment
from recompra.segments.compiled import compiled_many, rule_hash
from recompra.segments.definition import (
    SegmentDefinition,
    parse_rule,
    rule_to_json,
)
from recompra.segments.full import HubCopy

CHUNK = 5_000
_MEMBERS: Table = SegmentMember.__table__  # type: ignore[assignment]
_EVENTS: Table = SegmentMembershipEvent.__table__  # type: ignore[assignment]
_SEGMENTS: Table = Segment.__table__  # type: ignore[assignment]


@dataclass
class Diff:
    """Membership changes of one segment: who entered, who exited, the size after."""

    entered: list[int] = field(default_factory=list)
    exited: list[int] = field(default_factory=list)
    members: int = 0


@dataclass
class ApplyResult:
    """What applying a definition did."""

    segment: Segment
    version: int
    created: bool
    changed: bool
    diff: Diff | None


def get_segment(session: Session, *, brand_id: int, key: str) -> Segment:
    """The brand's segment ``key`` (404 when it does not exist)."""
    segment = session.scalar(
        select(Segment).where(Segment.brand_id == brand_id, Segment.key == key)
    )
    if segment is None:
        raise NotFound(f"segment {key!r} not found", field="key")
    return segment


def current_version(session: Session, segment: Segment) -> SegmentVersion:
    """The version in force of ``segment``."""
    version = session.scalar(
        select(SegmentVersion).where(
            SegmentVersion.segment_id == segment.id,
            SegmentVersion.version == segment.current_version,
        )
    )
    assert version is not None, "a segment always has its current version"
    return version


def definition_of(version: SegmentVersion, key: str) -> SegmentDefinition:
    """The definition a stored version holds."""
    return SegmentDefinition(
        key=key,
        name_pt=version.name_pt,
        name_en=version.name_en,
        rule=parse_rule(version.rule),
        description_pt=version.description_pt,
        description_en=version.description_en,
    )


def apply_definition(
    session: Session,
    *,
    brand_id: int,
    definition: SegmentDefinition,
    now: datetime | None = None,
    evaluate: bool = True,
) -> ApplyResult:
    """Create the segment or add a version when anything changed; then evaluate it.

    Applying the same definition twice adds nothing (``changed`` is false), so a file can
    be applied on every deploy. An archived segment is re-activated by a new version.
    """
    now = now or utcnow()
    rule = rule_to_json(definition.rule)
    segment = session.scalar(
        select(Segment)
        .where(Segment.brand_id == brand_id, Segment.key == definition.key)
        .with_for_update()
    )
    created = segment is None
    if segment is None:
        segment = Segment(brand_id=brand_id, key=definition.key, current_version=0)
        session.add(segment)
        session.flush()
    else:
        latest = current_version(session, segment)
        same = (
            latest.rule == rule
            and (latest.name_pt, latest.name_en) == (definition.name_pt, definition.name_en)
            and (latest.description_pt, latest.description_en)
            == (definition.description_pt, definition.description_en)
        )
        if same and segment.status == "active":
            return ApplyResult(segment, segment.current_version, False, False, None)
    segment.current_version += 1
    segment.status = "active"
    segment.updated_at = now
    session.add(
        SegmentVersion(
            segment_id=segment.id,
            version=segment.current_version,
            name_pt=definition.name_pt,
            name_en=definition.name_en,
            description_pt=definition.description_pt,
            description_en=definition.description_en,
            rule=rule,
            rule_hash=rule_hash(rule),
            created_at=now,
        )
    )
    session.flush()
    diff = evaluate_segment(session, segment=segment, now=now) if evaluate else None
    return ApplyResult(segment, segment.current_version, created, True, diff)


def evaluate_segment(session: Session, *, segment: Segment, now: datetime | None = None) -> Diff:
    """Full evaluation of one segment over all of the brand's customers."""
    return evaluate_segments(session, segments=[segment], now=now)[segment.key]


def evaluate_segments(
    session: Session,
    *,
    segments: Sequence[Segment],
    now: datetime | None = None,
    copy: HubCopy | None = None,
    settled: Sequence[tuple[int, int]] = (),
) -> dict[str, Diff]:
    """Full evaluation of several segments of one brand with one DuckDB query: who
    entered and who exited since the last evaluation, recorded; the diffs by segment key.

    The rows are read into ``copy`` (a fresh one, read in this unit of work, unless the
    caller passes one it filled for several batches); the ``(segment id, customer id)``
    pairs in ``settled`` keep their membership (see :func:`recompra.segments.flows.evaluate_all`).
    """
    now = now or utcnow()
    if not segments:
        return {}
    for segment in segments:
        if segment.status != "active":
            raise Conflict(f"segment {segment.key!r} is archived")
    ordered = sorted(segments, key=lambda s: s.id)
    session.execute(
        select(Segment.id)
        .where(Segment.id.in_([s.id for s in ordered]))
        .order_by(Segment.id)
        .with_for_update()
    )
    brand_id = ordered[0].brand_id
    versions = [current_version(session, s) for s in ordered]
    query = compiled_many(
        [v.rule_hash for v in versions], lambda: [v.rule for v in versions], subset=False
    )
    session.flush()  # the copy reads through the connection: pending rows first
    owned = copy is None
    copy = copy if copy is not None else HubCopy(brand_id)
    try:
        results = copy.diffs(
            session.connection(),
            query,
            query.params(brand_id=brand_id, now=now),
            [s.id for s in ordered],
            settled=settled,
        )
    finally:
        if owned:
            copy.close()
    changes, diffs = [], {}
    for segment, result in zip(ordered, results, strict=True):
        changes.append(Change.of(segment, result.entered, result.exited))
        diffs[segment.key] = Diff(result.entered, result.exited, result.members)
        segment.member_count = result.members
        segment.evaluated_at = now
    _record(session, changes, now)
    session.flush()
    return diffs


def reevaluate_customers(
    session: Session,
    brand_id: int,
    customer_ids: Iterable[int],
    *,
    now: datetime | None = None,
    changed: Collection[str] | None = None,
) -> dict[str, Diff]:
    """Re-evaluate ``customer_ids`` in every active segment of the brand.

    Call it, in the same unit of work, after an order, return, review, event, score or
    loyalty movement of these customers. ``changed`` names the fields the write can have
    changed (``None``: any); when no active segment tests one of them, nobody can have
    entered or exited and nothing is evaluated. Returns the changes per segment key
    (only the segments where someone entered or exited).
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    now = now or utcnow()
    due = _due(session, brand_id, changed)
    if due is None:
        return {}
    active, query = due
    if not is_sqlite(session):  # SQLite writers are serialised at BEGIN
        session.execute(
            select(Customer.id).where(Customer.id.in_(ids)).order_by(Customer.id).with_for_update()
        )
    current: dict[int, set[int]] = {}
    for segment_id, customer_id in session.execute(
        select(SegmentMember.segment_id, SegmentMember.customer_id).where(
            SegmentMember.customer_id.in_(ids)
        )
    ):
        # Archived segments have no members; other brands' segments are never matched.
        current.setdefault(segment_id, set()).add(customer_id)
    matched: list[set[int]] = [set() for _ in active]
    for result in session.execute(
        query.statement, query.params(brand_id=brand_id, now=now, customer_ids=ids)
    ):
        for position, flag in enumerate(result[1:]):
            if flag:
                matched[position].add(result[0])
    changes: list[Change] = []
    for row, inside in zip(active, matched, strict=True):
        before = current.get(row.id, set())
        if inside != before:
            changes.append(
                Change(
                    row.id,
                    row.key,
                    brand_id,
                    row.current_version,
                    sorted(inside - before),
                    sorted(before - inside),
                )
            )
    _record(session, changes, now)
    if changes:
        session.execute(
            update(_SEGMENTS)
            .where(_SEGMENTS.c.id == bindparam("b_id"))
            .values(member_count=_SEGMENTS.c.member_count + bindparam("b_delta")),
            [{"b_id": c.segment_id, "b_delta": len(c.entered) - len(c.exited)} for c in changes],
        )
    return {c.key: Diff(c.entered, c.exited) for c in changes}


def reevaluation_due(session: Session, brand_id: int, changed: Collection[str]) -> bool:
    """Whether :func:`reevaluate_customers` after a write that can change only the fields
    ``changed`` would evaluate anyone: an active segment of the brand tests one of them
    (one prepared read; the compiled statement is cached per process)."""
    return _due(session, brand_id, changed) is not None


def _due(
    session: Session, brand_id: int, changed: Collection[str] | None
) -> tuple[Sequence[Any], CompiledSegment] | None:
    """The brand's active segments and their compiled statement, or ``None`` when no
    active segment tests a field of ``changed`` (``None``: any field)."""
    # Compiled once and run on the driver's cursor (loyalty.prepared): no ORM objects to
    # track, and none of SQLAlchemy's execution path (issue 20).
    active = run(session, _ACTIVE_RULE_HASHES, {"brand_id": brand_id}).all()
    if not active:
        return None
    query = compiled_many(
        [row.rule_hash for row in active], lambda: _rules(session, [row.id for row in active])
    )
    if changed is not None and query.fields.isdisjoint(changed):
        return None
    return active, query


def active_versions(brand_id: int | BindParameter[int], *columns: Any) -> Select[Any]:
    """``columns`` of the brand's active segments joined to their versions in force
    (``brand_id`` a value, or a parameter of a statement built once)."""
    return (
        select(*columns)
        .join(
            SegmentVersion,
            (SegmentVersion.segment_id == Segment.id)
            & (SegmentVersion.version == Segment.current_version),
        )
        .where(Segment.brand_id == brand_id, Segment.status == "active")
    )


#: Built once: every loyalty earn and redemption runs it (building it per call cost more
#: than running it, issue 20). Prepared on PostgreSQL's side once per connection: planned
#: on every call it cost the backend 0.17 ms of CPU a loyalty write, more than running it.
#: A lookup by key whose plan does not depend on the brand (the status is a literal).
_ACTIVE_RULE_HASHES = Prepared(
    active_versions(
        bindparam("brand_id"),
        Segment.id,
        Segment.key,
        Segment.current_version,
        SegmentVersion.rule_hash,
    ).order_by(Segment.id),
    server_prepared=True,
)


def _rules(session: Session, segment_ids: list[int]) -> list[dict[str, Any]]:
    """The rules in force of ``segment_ids``, in that order."""
    rows = session.execute(
        select(SegmentVersion.segment_id, SegmentVersion.rule)
        .join(Segment, Segment.id == SegmentVersion.segment_id)
        .where(
            SegmentVersion.segment_id.in_(segment_ids),
            SegmentVersion.version == Segment.current_version,
        )
    )
    by_segment = {segment_id: rule for segment_id, rule in rows}
    return [by_segment[segment_id] for segment_id in segment_ids]


def archive_segment(
    session: Session, *, brand_id: int, key: str, now: datetime | None = None
) -> Diff:
    """Stop a segment: every member exits (with an event) and evaluation stops."""
    now = now or utcnow()
    segment = get_segment(session, brand_id=brand_id, key=key)
    session.execute(select(Segment.id).where(Segment.id == segment.id).with_for_update())
    members = list(
        session.execute(
            select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment.id)
        ).scalars()
    )
    _record(session, [Change.of(segment, [], sorted(members))], now)
    segment.status = "archived"
    segment.member_count = 0
    segment.updated_at = now
    session.flush()
    return Diff([], sorted(members), 0)


@dataclass(frozen=True)
class Change:
    """One segment's membership changes, with what its rows and events need."""

    segment_id: int
    key: str
    brand_id: int
    version: int
    entered: list[int]
    exited: list[int]

    @classmethod
    def of(cls, segment: Segment, entered: list[int], exited: list[int]) -> Change:
        """The change of an ORM segment."""
        return cls(
            segment.id, segment.key, segment.brand_id, segment.current_version, entered, exited
        )


_REMOVE = delete(_MEMBERS).where(
    _MEMBERS.c.segment_id == bindparam("segment_id"),
    _MEMBERS.c.customer_id == bindparam("customer_id"),
)
_ADD = insert(_MEMBERS).values(
    segment_id=bindparam("segment_id"),
    customer_id=bindparam("customer_id"),
    version=bindparam("version"),
    entered_at=bindparam("at"),
)
_LOG = insert(_EVENTS).values(
    brand_id=bindparam("brand_id"),
    segment_id=bindparam("segment_id"),
    customer_id=bindparam("customer_id"),
    type=bindparam("type"),
    version=bindparam("version"),
    occurred_at=bindparam("at"),
)


def _record(session: Session, changes: Sequence[Change], now: datetime) -> None:
    """Write member rows and the append-only events of several segments' changes.

    One batched statement per kind of write (delete, member insert, event insert), so
    that an incremental re-evaluation across many segments costs a few round trips and a
    nightly run's millions of rows go to the driver as plain tuples.
    """
    if not any(c.entered or c.exited for c in changes):
        return
    at = _stored(session, _EVENTS.c.occurred_at, now)
    exits = [(c.segment_id, x) for c in changes for x in c.exited]
    members = [(c.segment_id, x, c.version, at) for c in changes for x in c.entered]
    events = [
        (c.brand_id, c.segment_id, x, kind, c.version, at)
        for c in changes
        for kind, who in (("segment_entered", c.entered), ("segment_exited", c.exited))
        for x in who
    ]
    for statement, names, rows in (
        (_REMOVE, ("segment_id", "customer_id"), exits),
        (_ADD, ("segment_id", "customer_id", "version", "at"), members),
        (_LOG, ("brand_id", "segment_id", "customer_id", "type", "version", "at"), events),
    ):
        if rows:
            _executemany(session, statement, names, rows)


def _stored(session: Session, column: Any, value: Any) -> Any:
    """``value`` as the driver stores it in ``column`` (SQLite: naive UTC text)."""
    process = column.type.bind_processor(session.connection().dialect)
    return process(value) if process is not None else value


@lru_cache(maxsize=16)
def _driver_sql(statement: Any, dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    """The driver's SQL of one of the module's fixed statements, and its parameter order."""
    compiled = statement.compile(dialect=dialect)
    order = compiled.positiontup
    return str(compiled), tuple(order) if order is not None else None


def _executemany(
    session: Session, statement: Any, names: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Run ``statement`` once per row of plain values, straight through the driver.

    SQLAlchemy's executemany builds and processes a dictionary per row; at a million
    rows that costs more than the database's own work. The statement is compiled once
    (the shared time rendered in it by the dialect), and the driver gets tuples.
    """
    connection = session.connection()
    sql, order = _driver_sql(statement, connection.dialect)
    # A positional driver (SQLite) takes the values in the rendered order.
    pick = itemgetter(*(names.index(name) for name in order)) if order is not None else None
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        if pick is not None:
            params: Any = [pick(row) for row in chunk]
        else:
            params = [dict(zip(names, row, strict=True)) for row in chunk]
        connection.exec_driver_sql(sql, params)
