"""What every ingest use case shares: a batch of JSON records, its problems and its result.

A record's values are parsed by the same field parsers as the importers' file cells
(:func:`~recompra.hub.validate.validate_frame`, one row per record or order line, with a
synthetic ``_line``), then checked by the hub's rules and written in the caller's
session, so a request is one transaction. A rejected record never blocks the others;
every problem is reported with the record's position in the batch (``index``), the field
(as the API names it), the value and the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pandas as pd

from recompra.hub.parsing import ParseOptions
from recompra.hub.rejects import EntityCounts, ImportReport, Reject
from recompra.hub.rules import MAX_LENGTH
from recompra.hub.validate import LINE, Field, validate_frame

FILE = "request"

#: API field name -> canonical customer field (in orders under ``customer.``).
CUSTOMER_KEYS = {
    "id": "customer_id",
    "email": "email",
    "document": "document",
    "phone": "phone",
    "name": "customer_name",
    "city": "city",
    "state": "state",
    "zip_prefix": "zip_prefix",
    "birth_date": "birth_date",
}

#: Maps a canonical column of a record's row to the field name the API uses.
FieldName = Callable[[str], str]


@dataclass(frozen=True)
class IngestReject:
    """One problem with one record of a batch."""

    index: int
    field: str
    value: str
    reason: str


@dataclass
class IngestResult:
    """What happened to a batch: per-record outcome, counts per entity and the rejects.

    ``ids`` holds, per record position, the stored row's id (``None`` when rejected).
    """

    entity: str
    received: int
    ids: list[int | None]
    counts: dict[str, EntityCounts]
    rejects: list[IngestReject] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        """Records rejected (each counted once, whatever its number of problems)."""
        return len({r.index for r in self.rejects})

    @property
    def accepted(self) -> int:
        """Records written or found unchanged."""
        return self.received - self.rejected


def parse_options(currency: str) -> ParseOptions:
    """How the API writes timestamps (ISO 8601; naive is UTC) and its currency."""
    return ParseOptions(
        date_formats=("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"),
        timezone="UTC",
        currency=currency,
    )


def text(value: Any) -> str:
    """The raw text of a JSON scalar, as an importer would read it from a file."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def same_name(name: str) -> str:
    """The API field of a record whose fields are named as the canonical ones."""
    return name


def customer_row(customer: dict[str, Any]) -> dict[str, str]:
    """A customer object's values under their canonical names."""
    return {canonical: text(customer.get(key)) for key, canonical in CUSTOMER_KEYS.items()}


def customer_field_name(prefix: str) -> FieldName:
    """API names of canonical customer fields, under ``prefix`` (``customer.`` in orders)."""
    api = {canonical: key for key, canonical in CUSTOMER_KEYS.items()}

    def name(column: str) -> str:
        return prefix + api.get(column, column)

    return name


class Batch:
    """Rows of one validation frame, the record each came from, and the problems found."""

    def __init__(self, entity: str, report: ImportReport) -> None:
        self.entity = entity
        self.report = report
        self.rows: list[dict[str, str]] = []
        self.origin: list[tuple[int, FieldName]] = []
        self.problems: dict[tuple[int, str, str], IngestReject] = {}

    def add(self, index: int, row: dict[str, str], name: FieldName) -> None:
        """Add a canonical row of record ``index``; ``name`` maps a column to the API field."""
        self.origin.append((index, name))
        self.rows.append(row)

    def problem(self, index: int, field_name: str, value: str, reason: str) -> None:
        """Record a problem of record ``index`` (duplicates are folded)."""
        key = (index, field_name, reason)
        self.problems.setdefault(key, IngestReject(index, field_name, value, reason))

    def row_problem(self, line: int, column: str, value: str, reason: str) -> None:
        """Record a problem of the row at ``line`` (a canonical column, named as the API does)."""
        index, api_name = self.origin[line]
        self.problem(index, api_name(column), value, reason)

    def validate(self, fields: list[Field], options: ParseOptions) -> pd.DataFrame:
        """Length checks, then :func:`validate_frame`; return the valid typed rows."""
        frame = pd.DataFrame(self.rows, columns=[f.name for f in fields], dtype=object)
        frame = frame.fillna("")
        frame[LINE] = range(len(self.rows))
        too_long = [""] * len(self.rows)
        for position, row in enumerate(self.rows):
            for name, value in row.items():
                limit = MAX_LENGTH.get(name)
                if limit is not None and len(value) > limit:
                    too_long[position] = f"{name} is longer than {limit} characters"
                    self.row_problem(position, name, value[:100], too_long[position])
        if any(too_long):
            frame["_fields_error"] = too_long
        before = len(self.report.rejects)
        valid = validate_frame(
            frame, fields, entity=self.entity, file=FILE, options=options, report=self.report
        )
        for reject in self.report.rejects[before:]:
            if reject.column == "*":
                continue  # the length problem, already recorded with its field
            self.row_problem(reject.line, reject.column, reject.value, reject.reason)
        return valid

    def reject_rows(self, lines: Sequence[int], field_name: str, value: str, reason: str) -> None:
        """Reject valid rows found wrong later (unknown order, too large an amount...)."""
        for line in lines:
            self.row_problem(line, field_name, value, reason)
            self.report.reject(Reject(self.entity, FILE, line, field_name, value, reason))
        self.report.entity(self.entity).rejected += len(lines)

    def bad_indexes(self) -> set[int]:
        """Positions of the records with at least one problem."""
        return {index for index, _, _ in self.problems}

    def result(self, received: int, ids: list[int | None]) -> IngestResult:
        """The batch's result (rejects ordered by record, then field)."""
        rejects = sorted(self.problems.values(), key=lambda r: (r.index, r.field, r.reason))
        for r in rejects:
            ids[r.index] = None
        return IngestResult(self.entity, received, ids, self.report.counts, rejects)


def flat_batch(
    report: ImportReport,
    entity: str,
    records: Sequence[dict[str, Any]],
    fields: list[Field],
    id_field: str,
    currency: str,
) -> tuple[Batch, list[dict[str, Any]]]:
    """Validate flat records (one row each); return the batch and the rows with no problem.

    A record repeating the ``id_field`` of an earlier one in the batch is rejected.
    """
    batch = Batch(entity, report)
    seen: dict[str, int] = {}
    for index, record in enumerate(records):
        row = {f.name: text(record.get(f.name)) for f in fields}
        external = row.get(id_field, "").strip()
        if external and external in seen:
            batch.problem(
                index, id_field, external, f"repeats the record at index {seen[external]}"
            )
        seen.setdefault(external, index)
        batch.add(index, row, same_name)
    valid = batch.validate(fields, parse_options(currency))
    bad = batch.bad_indexes()
    rows = [
        r
        for r in cast(list[dict[str, Any]], valid.to_dict("records"))
        if batch.origin[int(r[LINE])][0] not in bad
    ]
    report.entity(entity).rejected += len(valid) - len(rows)
    return batch, rows
