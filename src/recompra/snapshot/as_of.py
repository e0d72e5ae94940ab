"""The as-of rule shared by analyze, predict, recommend, the pipeline and the demo.

An as-of is a UTC calendar **date**, and it is inclusive: every purchase whose UTC
purchase day is on or before it counts, i.e. everything purchased up to
``as_of 23:59:59.999999 UTC`` (:func:`as_of_cutoff`). Left out, it is the UTC day of the
snapshot's last purchase (orders in
:data:`~recompra.snapshot.schema.NON_PURCHASE_STATUSES` are not purchases), so the default
run sees every order of the last day. Scores are stored per as-of date, so analytics and
predictions of one run fill the same ``customer_scores`` row.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from recompra.snapshot.schema import NON_PURCHASE_STATUSES

if TYPE_CHECKING:
    from recompra.engines.base import Dialect, Engine

_EPOCH = date(1970, 1, 1)


def last_purchase_day_sql(d: Dialect) -> str:
    """SQL returning the UTC day number (days since 1970-01-01) of the last purchase."""
    excluded = ", ".join(f"'{status}'" for status in NON_PURCHASE_STATUSES)
    return (
        f"SELECT MAX({d.day_number('purchased_at')}) AS last_day FROM orders "
        f"WHERE status NOT IN ({excluded})"
    )


def resolve_as_of(engine: Engine, requested: date | None) -> date:
    """Return ``requested``, or the UTC day of the last purchase of the registered snapshot.

    Raises
    ------
    ValueError
        When nothing was requested and the snapshot has no purchase.
    """
    if requested is not None:
        return requested
    value = engine.query(last_purchase_day_sql(engine.dialect)).column(0)[0].as_py()
    if value is None:
        raise ValueError("the snapshot has no purchases; give an as-of date")
    return _EPOCH + timedelta(days=int(value))


def as_of_cutoff(as_of: date) -> datetime:
    """The last instant (UTC, microseconds) that still belongs to the as-of day."""
    return datetime.combine(as_of, time.max, tzinfo=UTC)


def parse_as_of(text: str | None) -> date | None:
    """Parse an ``YYYY-MM-DD`` as-of (``None`` stays ``None``: the default rule applies)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO date (YYYY-MM-DD): {text!r}") from exc
