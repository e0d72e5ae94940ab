"""Rejected rows and import reports: which file, which line, which field, why.

Rejected rows are never silently dropped: they are written to ``rejects.csv`` beside a
``report.json`` whose counts reconcile exactly (read = inserted + updated + unchanged +
duplicate + rejected, per entity).
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Reject:
    """One problem with one input row."""

    entity: str
    file: str
    line: int
    column: str
    value: str
    reason: str


@dataclass
class EntityCounts:
    """What happened to the rows of one entity.

    ``duplicate`` counts rows that repeat a key seen earlier in the same input and were
    folded into it (e.g. Olist lists a person once per order).
    """

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicate: int = 0
    rejected: int = 0

    def add(self, other: EntityCounts) -> None:
        """Accumulate ``other`` into these counts."""
        for name in ("read", "inserted", "updated", "unchanged", "duplicate", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def reconciles(self) -> bool:
        """Whether every row read ended in exactly one outcome."""
        done = self.inserted + self.updated + self.unchanged + self.duplicate + self.rejected
        return self.read == done


@dataclass
class ImportReport:
    """Counts per entity and the rejected rows of one import."""

    counts: dict[str, EntityCounts] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    #: Facts about the rows beyond their outcome: matched returns, flagged lines, revenue
    #: by class, how often a mapping option changed a value (see docs/importing.md).
    facts: dict[str, int] = field(default_factory=dict)

    def entity(self, name: str) -> EntityCounts:
        """The counts of ``name``, created on first use."""
        return self.counts.setdefault(name, EntityCounts())

    def reject(self, reject: Reject) -> None:
        """Record a problem (the caller counts the row once in ``rejected``)."""
        self.rejects.append(reject)

    def note(self, name: str, value: int) -> None:
        """Add ``value`` to the fact ``name``."""
        self.facts[name] = self.facts.get(name, 0) + value

    def merge(self, other: ImportReport) -> None:
        """Fold another report (e.g. of one chunk) into this one."""
        for name, counts in other.counts.items():
            self.entity(name).add(counts)
        self.rejects.extend(other.rejects)
        for name, value in other.facts.items():
            self.note(name, value)

    @property
    def reconciles(self) -> bool:
        """Whether the counts of every entity reconcile."""
        return all(c.reconciles for c in self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: counts per entity and the number of problems."""
        return {
            "counts": {name: asdict(c) for name, c in self.counts.items()},
            "facts": dict(self.facts),
            "problems": len(self.rejects),
            "reconciles": self.reconciles,
        }

    def write(self, directory: Path) -> Path:
        """Write ``report.json`` and ``rejects.csv`` into ``directory``; return the report."""
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / "rejects.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["entity", "file", "line", "column", "value", "reason"])
            for r in self.rejects:
                writer.writerow([r.entity, r.file, r.line, r.column, r.value, r.reason])
        path = directory / "report.json"
        path.write_text(json.dumps(self.as_dict(), indent=2))
        return path
