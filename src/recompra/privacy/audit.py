"""The audit log: administrative actions and reads of personal data (who, what, when).

Entries of administrative actions are written in the same unit of work as the action
they record, so an action that rolls back leaves no entry and a committed one always has
its entry. The API's reads of personal data are logged in batches, each committed before
its read answers (:mod:`recompra.privacy.audit_writer`). The export is a CSV through the
one spreadsheets writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.models import AuditEntry
from recompra.spreadsheets import DATETIME, INTEGER, TEXT, Cell, Column, csv_bytes

AUDIT_COLUMNS: tuple[Column, ...] = (
    ("id", INTEGER),
    ("at", DATETIME),
    ("actor", TEXT),
    ("action", TEXT),
    ("target", TEXT),
    ("brand_id", INTEGER),
)


def record(
    session: Session, *, actor: str, action: str, target: str = "", brand_id: int | None = None
) -> None:
    """Add an entry for ``actor`` doing ``action`` on ``target``."""
    session.add(
        AuditEntry(actor=actor[:200], action=action, target=target[:200], brand_id=brand_id)
    )


def entries(
    session: Session,
    *,
    brand_id: int | None = None,
    since: datetime | None = None,
    limit: int = 10_000,
) -> list[AuditEntry]:
    """Entries, newest first; with ``brand_id``, only that brand's (a brand's admin must
    not read what happens in other brands)."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if brand_id is not None:
        query = query.where(AuditEntry.brand_id == brand_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return list(session.execute(query).scalars())


def _cells(entry: AuditEntry) -> Sequence[Cell]:
    return (entry.id, entry.at, entry.actor, entry.action, entry.target, entry.brand_id)


def audit_csv(rows: Sequence[AuditEntry]) -> bytes:
    """The entries as a CSV file."""
    return csv_bytes(AUDIT_COLUMNS, (_cells(r) for r in rows))


#: Routes that read personal data, by template -> the audited action. A read through any
#: of them is logged with the customer id of the path (when there is one).
PERSONAL_READS: dict[str, str] = {
    "/v1/customers/{customer_id}": "customer.read",
    "/v1/customers": "customer.search",
    "/dashboard/customers/{customer_id}": "customer.read",
    "/dashboard/customers": "customer.search",
    "/dashboard/segments/{key}/members.{fmt}": "segment.members_download",
    "/dashboard/export/{name}.{fmt}": "list.download",
}


def record_personal_read(
    session: Session,
    *,
    route: str,
    path_params: dict[str, str],
    actor: str,
    brand_id: int | None,
) -> bool:
    """Log the read when ``route`` reads personal data; return whether it did."""
    action = PERSONAL_READS.get(route)
    if action is None:
        return False
    record(session, actor=actor, action=action, target=read_target(path_params), brand_id=brand_id)
    return True


def read_target(path_params: dict[str, str]) -> str:
    """What an audited read was about: its path parameters, e.g. ``customer_id:42``."""
    return ",".join(f"{k}:{v}" for k, v in sorted(path_params.items()))[:200]
