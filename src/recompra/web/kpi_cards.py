"""The overview's KPI cards: a value, the previous equal-length period and the change.

The numbers come from :func:`recompra.reads.kpis.kpis_for_range` (the analytics' one KPI
definition); this module only chooses the cards and says how each change reads: amounts
and counts change in percent of the previous value, rates in percentage points, the NPS
in points (a ratio of ratios would be hard to read).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from recompra.reads.models import KpiPeriod, KpiSummary
from recompra.web.context import Page

Kind = Literal["money", "count", "ratio", "rate", "points"]


@dataclass(frozen=True)
class KpiCard:
    """One card: the glossary term, the raw value and the texts to show."""

    key: str
    term: str
    value: float | int | None
    text: str
    previous: str | None = None
    previous_value: float | int | None = None
    change: str | None = None
    direction: Literal["up", "down", "flat", ""] = ""


#: (card key, glossary term, read-model field, kind), in the order shown.
PERIOD_CARDS: tuple[tuple[str, str, str, Kind], ...] = (
    ("revenue_minor", "revenue", "revenue_minor", "money"),
    ("orders", "orders", "orders", "count"),
    ("customers", "customers", "customers", "count"),
    ("new_customers", "new_customers", "new_customers", "count"),
    ("aov_minor", "aov", "aov_minor", "money"),
    ("purchase_frequency", "purchase_frequency", "purchase_frequency", "ratio"),
    ("repurchase_rate", "repurchase_rate", "repurchase_rate", "rate"),
    ("retention_rate", "retention_rate", "retention_rate", "rate"),
    ("nps", "nps", "nps", "points"),
)


def _formatter(page: Page, kind: Kind) -> Callable[[float | int | None], str]:
    if kind == "money":
        return lambda v: page.money(None if v is None else round(v))
    if kind == "rate":
        return lambda v: page.percent(v)
    if kind == "ratio":
        return lambda v: page.number(v, 2)
    if kind == "points":
        return lambda v: page.number(v, 0)
    return lambda v: page.number(v)


def _change(
    page: Page, kind: Kind, current: float | int | None, previous: float | int | None
) -> tuple[str | None, Literal["up", "down", "flat", ""]]:
    """The change's text and direction (``None`` when it cannot be computed)."""
    if current is None or previous is None:
        return None, ""
    if kind == "rate":
        delta = float(current) - float(previous)
        text = page.t("kpi.change_pp", value=page.number(100 * delta, 1))
    elif kind == "points":
        delta = float(current) - float(previous)
        text = page.t("kpi.change_points", value=page.number(delta, 0))
    else:
        if previous == 0:
            return None, ""
        delta = (float(current) - float(previous)) / abs(float(previous))
        text = page.percent(delta)
    if delta > 0:
        return "+" + text, "up"
    return text, "down" if delta < 0 else "flat"


def period_cards(
    page: Page, current: KpiPeriod | None, previous: KpiPeriod | None
) -> list[KpiCard]:
    """The cards of a range against the range before it."""
    cards = []
    for key, term, attribute, kind in PERIOD_CARDS:
        fmt = _formatter(page, kind)
        value = getattr(current, attribute) if current is not None else None
        before = getattr(previous, attribute) if previous is not None else None
        change, direction = _change(page, kind, value, before)
        cards.append(KpiCard(key, term, value, fmt(value), fmt(before), before, change, direction))
    return cards


def history_cards(page: Page, s: KpiSummary) -> list[KpiCard]:
    """The cards of the whole history (no previous period to compare with)."""
    return [
        KpiCard("revenue_minor", "revenue", s.revenue_minor, page.money(s.revenue_minor)),
        KpiCard("orders", "orders", s.orders, page.number(s.orders)),
        KpiCard("customers", "customers", s.customers, page.number(s.customers)),
        KpiCard(
            "repurchase_rate", "repurchase_rate", s.repurchase_rate, page.percent(s.repurchase_rate)
        ),
        KpiCard(
            "retention_rate", "retention_rate", s.retention_rate, page.percent(s.retention_rate)
        ),
        KpiCard("aov_minor", "aov", s.aov_minor, page.money(s.aov_minor)),
        KpiCard(
            "historic_clv_minor",
            "historic_clv",
            s.historic_clv_minor,
            page.money(s.historic_clv_minor),
        ),
        KpiCard(
            "predicted_clv_minor",
            "predicted_clv",
            s.predicted_clv_minor,
            page.money(s.predicted_clv_minor),
        ),
        KpiCard("nps", "nps", s.nps, page.number(s.nps, 0)),
    ]
