"""What an earning calculation works on (an order snapshot) and what it produces.

Rounding: points are kept as exact fractions per line while the rules run; the order's
points are rounded **down** once, after the line points are summed and the order
multiplier applied. Bonuses are whole points; a cap is applied last.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction


@dataclass(frozen=True)
class OrderLine:
    """One order line as the rules see it (amount excludes freight, net of discount)."""

    line_number: int
    amount_minor: int
    product_id: int | None = None
    product_ref: str | None = None
    category: str | None = None
    #: When the product entered the catalogue (early-adoption bonuses look at it).
    launched_at: datetime | None = None


@dataclass(frozen=True)
class OrderSnapshot:
    """An order as the rules see it."""

    order_id: int | None
    customer_id: int
    purchased_at: datetime
    lines: tuple[OrderLine, ...]
    #: Earlier orders of this customer at this brand (0 = this is the first order).
    previous_orders: int = 0

    @property
    def amount_minor(self) -> int:
        """The order amount the rules earn on."""
        return sum(line.amount_minor for line in self.lines)


@dataclass(frozen=True)
class EarnContext:
    """Everything besides the order that a rule may look at."""

    trigger: str  # "order", "review", "birthday" or "survey"
    at: datetime
    tier_code: str | None = None
    tier_multiplier_pct: int = 100
    birth_date: date | None = None
    review_length: int = 0
    #: Points already earned from orders in ``[start, end)``: used by period caps.
    earned_between: Callable[[datetime, datetime], int] = field(default=lambda _s, _e: 0)


@dataclass
class LineCalculation:
    """The points of one line, with the reasons."""

    line: OrderLine
    eligible_minor: int
    base: Fraction = Fraction(0)
    multiplier: Fraction = Fraction(1)
    notes: list[str] = field(default_factory=list)

    @property
    def points(self) -> Fraction:
        """Exact (unrounded) points of the line."""
        return self.base * self.multiplier


@dataclass
class Calculation:
    """The result of running the rules: per-line points, bonuses, steps and the total."""

    lines: list[LineCalculation]
    order_multiplier: Fraction = Fraction(1)
    bonuses: list[tuple[str, int]] = field(default_factory=list)
    blocked_reason: str | None = None
    cap: int | None = None
    steps: list[str] = field(default_factory=list)
    rule_version: int | None = None

    def subtotal(self) -> int:
        """Points before the cap: line points x order multiplier, rounded down, + bonuses."""
        if self.blocked_reason is not None:
            return 0
        line_points = sum((line.points for line in self.lines), Fraction(0))
        return math.floor(line_points * self.order_multiplier) + sum(p for _, p in self.bonuses)

    @property
    def total(self) -> int:
        """The points the order earns."""
        subtotal = self.subtotal()
        return subtotal if self.cap is None else max(0, min(subtotal, self.cap))

    def explain(self) -> list[str]:
        """A readable, line-by-line explanation of the calculation."""
        out: list[str] = []
        if self.rule_version is not None:
            out.append(f"rules version {self.rule_version}")
        else:
            out.append("no earning rules in force")
        for lc in self.lines:
            head = (
                f"line {lc.line.line_number}: amount {lc.line.amount_minor}, eligible "
                f"{lc.eligible_minor}, base {_fmt(lc.base)} x {_fmt(lc.multiplier)} = "
                f"{_fmt(lc.points)}"
            )
            out.append(head + "".join(f"; {note}" for note in lc.notes))
        out.extend(self.steps)
        out.append(f"total: {self.total} points")
        return out


def _fmt(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.4f}".rstrip("0")
