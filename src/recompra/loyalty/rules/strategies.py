"""Earning rules as strategy objects, applied in ascending ``priority``.

Each rule reads a plain dict (``{"type": "base", ...}``) so that rule versions are stored
as JSON and replayed exactly. Default priorities run gates and exclusions first, then
base points, line multipliers (the largest matching multiplier wins; they do not stack),
the tier multiplier, bonuses and finally the period cap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, ClassVar

from recompra.loyalty.errors import InvalidRule
from recompra.loyalty.rules.calculation import Calculation, EarnContext, OrderSnapshot


def _positive_fraction(spec: dict[str, Any], key: str) -> Fraction:
    try:
        value = Fraction(str(spec[key]))
    except (KeyError, ValueError, ZeroDivisionError) as exc:
        raise InvalidRule(f"rule {spec.get('type')!r} needs a number {key!r}", field=key) from exc
    if value <= 0:
        raise InvalidRule(f"{key} must be positive", field=key)
    return value


def _non_negative_int(spec: dict[str, Any], key: str) -> int:
    value = spec.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidRule(f"rule {spec.get('type')!r} needs a non-negative integer {key!r}")
    return value


def _refs(spec: dict[str, Any], key: str) -> frozenset[str]:
    values = spec.get(key)
    if not isinstance(values, list) or not values:
        raise InvalidRule(f"rule {spec.get('type')!r} needs a non-empty list {key!r}", field=key)
    return frozenset(str(v) for v in values)


class Rule(ABC):
    """An earning rule: it refines a :class:`Calculation` in priority order."""

    type: ClassVar[str]
    default_priority: ClassVar[int]
    triggers: ClassVar[frozenset[str]] = frozenset({"order"})

    def __init__(self, spec: dict[str, Any]) -> None:
        priority = spec.get("priority", self.default_priority)
        if not isinstance(priority, int):
            raise InvalidRule("priority must be an integer", field="priority")
        self.priority = priority
        self.spec = dict(spec)

    @abstractmethod
    def apply(self, order: OrderSnapshot | None, ctx: EarnContext, calc: Calculation) -> None:
        """Refine ``calc``, appending the reason to its notes or steps."""


class MinimumOrder(Rule):
    """No points at all below a minimum order amount."""

    type = "minimum_order"
    default_priority = 10

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.min_minor = _non_negative_int(spec, "min_minor")

    def apply(self, order: OrderSnapshot | None, ctx: EarnContext, calc: Calculation) -> None:
        """Block the order when its amount is under the minimum."""
        amount = order.amount_minor if order else 0
        if amount < self.min_minor:
            calc.blocked_reason = f"order amount {amount} below minimum {self.min_minor}"
            calc.steps.append(f"minimum order: {calc.blocked_reason}; no points")


class ExcludedProducts(Rule):
    """Lines of these products (ids or external refs) earn nothing."""

    type = "excluded_products"
    default_priority = 20

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.products = _refs(spec, "products")

    def apply(self, order: OrderSnapshot | None, ctx: EarnContext, calc: Calculation) -> None:
        """Zero the eligible amount of excluded lines."""
        for lc in calc.lines:
            if _product_matches(lc.line.product_id, lc.line.product_ref, self.products):
                lc.eligible_minor = 0
                lc.notes.append("product excluded")


class BasePoints(Rule):
    """``points_per_unit`` points per ``unit_minor`` of eligible amount (default 1 per 1.00)."""

    type = "base"
    default_priority = 30

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.points_per_unit = _positive_fraction(spec, "points_per_unit")
        self.unit_minor = int(spec.get("unit_minor", 100))
        if self.unit_minor <= 0:
            raise InvalidRule("unit_minor must be positive", field="unit_minor")

    def apply(self, order: OrderSnapshot | None, ctx: EarnContext, calc: Calculation) -> None:
        """Set each line's base points from its eligible amount."""
        for lc in calc.lines:
            lc.base = Fraction(lc.eligible_minor, self.unit_minor) * self.points_per_unit


class _LineMultiplier(Rule):
    key: ClassVar[str]
    default_priority = 40

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.refs = _refs(spec, self.key)
        self.multiplier = _positive_fraction(spec, "multiplier")

    def matches(self, lc_line: Any) -> bool:
        """Whether the rule applies to this line."""
        raise NotImplementedError

    def apply(self, order: OrderSnapshot | None, ctx: EarnContext, calc: Calculation) -> None:
        """Raise matching lines' multiplier to this one (the largest wins)."""
        for lc in calc.lines:
            if self.matches(lc.line) and self.multiplier > lc.multiplier:
                lc.multiplier = self.multiplier
                lc.notes.append(f"{self.type} x{self.multiplier}")


class CategoryMultiplier(_LineMultiplier):
    """Lines in these category slugs earn ``multiplier`` times the base."""

    type = "category_multiplier"
    key = "categories"

    def matches(self, lc_line: Any) -> bool:
        """Whether the line's category is listed."""
        return lc_line.category is not None and lc_line.category in self.refs


class ProductMultiplier(_LineMultiplier):
    """Lines of these products (ids or refs) earn ``multiplier`` times the base."""

    type = "product_multiplier"
    key = "products"
    default_priority = 41

    def matches(self, lc_line: Any) -> bool:
        """Whether the line's product is listed."""
        return _product_matches(lc_line.product_id, lc_line.product_ref, self.refs)


class TierMultiplier(Rule):
    """The customer's tier earning multiplier (``earn_multiplier_pct`` of the tier)."""

    type = "tier_multiplier"
    default_priority = 50

    def apply(self, order: OrderSnapshot | None, ctx: EarnContext, calc: Calculation) -> None:
        """Multiply the order's line points by the tier multiplier."""
        if ctx.tier_code is None or ctx.tier_multiplier_pct == 100:
            return
        calc.order_multiplier *= Fraction(ctx.tier_multiplier_pct, 100)
        calc.steps.append(f"tier {ctx.tier_code}: x{Fraction(ctx.tier_multiplier_pct, 100)}")


class FirstOrderBonus(Rule):
    """Bonus points on the customer's first order at the brand."""

    type = "first_order_bonus"
    default_priority = 60

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.points = _non_negative_int(spec, "points")

    def apply(self, order: OrderSnapshot | None, ctx: EarnContext, calc: Calculation) -> None:
        """Add the bonus when the order is the customer's first."""
        if order is not None and order.previous_orders == 0 and calc.blocked_reason is None:
            calc.bonuses.append((self.type, self.points))
            calc.steps.append(f"first order bonus: +{self.points}")


class BirthdayBonus(Rule):
    """Bonus points once a year on the customer's birthday (awarded by the daily job)."""

    type = "birthday_bonus"
    default_priority = 61
    triggers = frozenset({"birthday"})

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.points = _non_negative_int(spec, "points")

    def apply(self, order: OrderSnapshot | None, ctx: EarnContext, calc: Calculation) -> None:
        """Add the birthday bonus."""
        calc.bonuses.append((self.type, self.points))
        calc.steps.append(f"birthday bonus: +{self.points}")


class ReviewBonus(Rule):
    """Bonus points for a written review of at least ``min_chars`` characters."""

    type = "review_bonus"
    default_priority = 62
    triggers = frozenset({"review"})

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.points = _non_negative_int(spec, "points")
        self.min_chars = int(spec.get("min_chars", 1))

    def apply(self, order: OrderSnapshot | None, ctx: EarnContext, calc: Calculation) -> None:
        """Add the bonus when the review text is long enough."""
        if ctx.review_length >= self.min_chars:
            calc.bonuses.append((self.type, self.points))
            calc.steps.append(f"review bonus: +{self.points}")
        else:
            calc.steps.append(f"review shorter than {self.min_chars} characters: no bonus")


class SurveyBonus(Rule):
    """Bonus points for answering a feedback survey (a B2B buyer's opinion is worth asking)."""

    type = "survey_bonus"
    default_priority = 63
    triggers = frozenset({"survey"})

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.points = _non_negative_int(spec, "points")

    def apply(self, order: OrderSnapshot | None, ctx: EarnContext, calc: Calculation) -> None:
        """Add the survey bonus."""
        calc.bonuses.append((self.type, self.points))
        calc.steps.append(f"survey answered: +{self.points}")


class VolumeBonus(Rule):
    """Bonus points for a large order: the highest ``steps`` threshold the amount reaches.

    ``steps`` is a list of ``{"min_amount_minor": ..., "points": ...}`` (B2B volume tiers).
    """

    type = "volume_bonus"
    default_priority = 64

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        steps = spec.get("steps")
        if not isinstance(steps, list) or not steps:
            raise InvalidRule("volume_bonus needs a non-empty list 'steps'", field="steps")
        self.steps = sorted(
            (_non_negative_int(step, "min_amount_minor"), _non_negative_int(step, "points"))
            for step in steps
        )

    def apply(self, order: OrderSnapshot | None, ctx: EarnContext, calc: Calculation) -> None:
        """Add the bonus of the highest threshold the order's amount reaches."""
        if order is None or calc.blocked_reason is not None:
            return
        reached = [points for minimum, points in self.steps if order.amount_minor >= minimum]
        if reached:
            calc.bonuses.append((self.type, reached[-1]))
            calc.steps.append(f"volume bonus: +{reached[-1]}")


class NewProductBonus(Rule):
    """Bonus points, once per order, for buying a product launched less than ``days`` ago."""

    type = "new_product_bonus"
    default_priority = 65

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.points = _non_negative_int(spec, "points")
        self.days = _non_negative_int(spec, "days")

    def apply(self, order: OrderSnapshot | None, ctx: EarnContext, calc: Calculation) -> None:
        """Add the bonus when a line's product is still new at purchase time."""
        if order is None or calc.blocked_reason is not None:
            return
        window = timedelta(days=self.days)
        if any(
            line.launched_at is not None
            and line.launched_at <= order.purchased_at < line.launched_at + window
            for line in order.lines
        ):
            calc.bonuses.append((self.type, self.points))
            calc.steps.append(f"early adoption of a new product: +{self.points}")


@dataclass(frozen=True)
class _Period:
    start: datetime
    end: datetime


class CapPerPeriod(Rule):
    """At most ``max_points`` from orders per calendar ``month`` or rolling ``days``."""

    type = "cap_per_period"
    default_priority = 90

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.max_points = _non_negative_int(spec, "max_points")
        self.period = spec.get("period", "month")
        if self.period not in ("month", "days"):
            raise InvalidRule("period must be 'month' or 'days'", field="period")
        self.days = int(spec.get("days", 30))

    def _period(self, at: datetime) -> _Period:
        if self.period == "month":
            start = datetime(at.year, at.month, 1, tzinfo=UTC)
            end = start + timedelta(days=monthrange(at.year, at.month)[1])
            return _Period(start, end)
        return _Period(at - timedelta(days=self.days), at + timedelta(microseconds=1))

    def apply(self, order: OrderSnapshot | None, ctx: EarnContext, calc: Calculation) -> None:
        """Limit the order's points to what is left of the period's allowance."""
        period = self._period(ctx.at)
        already = ctx.earned_between(period.start, period.end)
        allowance = max(0, self.max_points - already)
        if calc.subtotal() > allowance:
            calc.cap = allowance if calc.cap is None else min(calc.cap, allowance)
            calc.steps.append(
                f"cap {self.max_points} per {self.period}: {already} already earned, "
                f"capped to {allowance}"
            )


def _product_matches(product_id: int | None, product_ref: str | None, refs: frozenset[str]) -> bool:
    return (product_id is not None and str(product_id) in refs) or (
        product_ref is not None and product_ref in refs
    )


RULE_TYPES: dict[str, type[Rule]] = {
    cls.type: cls
    for cls in (
        MinimumOrder,
        ExcludedProducts,
        BasePoints,
        CategoryMultiplier,
        ProductMultiplier,
        TierMultiplier,
        FirstOrderBonus,
        BirthdayBonus,
        ReviewBonus,
        SurveyBonus,
        VolumeBonus,
        NewProductBonus,
        CapPerPeriod,
    )
}


def build_rules(specs: list[dict[str, Any]]) -> list[Rule]:
    """Parse rule specs into strategy objects sorted by priority (stable)."""
    if not isinstance(specs, list):
        raise InvalidRule("rules must be a list of objects")
    rules: list[Rule] = []
    for spec in specs:
        if not isinstance(spec, dict) or spec.get("type") not in RULE_TYPES:
            known = ", ".join(sorted(RULE_TYPES))
            raise InvalidRule(f"unknown rule {spec!r}; known types: {known}", field="type")
        rules.append(RULE_TYPES[spec["type"]](spec))
    return sorted(rules, key=lambda rule: rule.priority)
