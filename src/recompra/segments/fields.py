"""The fields a segment rule can test: their kind, operators, parameters and meaning.

This is the vocabulary of the rule language. :mod:`recompra.segments.definition` checks
rules against it and :mod:`recompra.segments.compile` turns each field into SQL.

Kinds and their operators
-------------------------
``text``     eq, ne, in, not_in, is_null, is_not_null
``number``   eq, ne, gt, gte, lt, lte, between, in, not_in, is_null, is_not_null
``money``    as ``number``; values are currency units in a definition file (``500.00``)
             and integer minor units inside (``50000``)
``date``     eq, gt, gte, lt, lte, between (ISO dates, UTC calendar days), within_days N
             (the last N days up to today; for ``future`` fields the next N days),
             is_null, is_not_null
``boolean``  eq, is_null, is_not_null
``birthday`` within_days N (the birthday falls today or in the next N days), eq M (month)
``items``    in, not_in (did / did not buy any of the listed products or categories)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

NULL_OPS = ("is_null", "is_not_null")
COMPARE_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in")
OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "text": ("eq", "ne", "in", "not_in", *NULL_OPS),
    "number": (*COMPARE_OPS, *NULL_OPS),
    "money": (*COMPARE_OPS, *NULL_OPS),
    "date": ("eq", "gt", "gte", "lt", "lte", "between", "within_days", *NULL_OPS),
    "boolean": ("eq", *NULL_OPS),
    "birthday": ("within_days", "eq"),
    "items": ("in", "not_in"),
}
ALL_OPS = tuple(sorted({op for ops in OPS_BY_KIND.values() for op in ops}))


@cache
def rfm_segment_keys() -> tuple[str, ...]:
    """Values of ``rfm_segment``: the analytics segment map's keys (one source of truth).

    Imported on first use: ``recompra.analytics`` loads its whole run (scikit-learn,
    DuckDB) on import, which the API would otherwise pay at start-up for one tuple.
    """
    from recompra.analytics.rfm import SegmentKey

    return tuple(key.value for key in SegmentKey)


@dataclass(frozen=True)
class FieldSpec:
    """One testable field.

    Attributes
    ----------
    name, group, kind
        The name used in rules, its group (profile, behaviour, analytics, loyalty) and kind.
    description
        What the field means (shown by ``recompra segments fields`` and in the docs).
    integer
        For ``number`` fields: values must be whole numbers.
    minimum, maximum
        Allowed range of values (a comparison outside it can never be true: rejected).
    choices
        The allowed values of a ``text`` field, when they are a fixed list (a function
        returning them).
    days
        ``"required"``, ``"optional"`` or ``None``: whether the condition takes a
        ``days`` window (counted back from now).
    event
        The condition names an event type (``event: cart_abandoned``).
    future
        A ``date`` field that lies ahead (``within_days`` looks forward).
    ops
        The operators of the field when they are fewer than its kind's (a count is never
        null; an existence test has no ``is_null``).
    """

    name: str
    group: str
    kind: str
    description: str
    integer: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: Callable[[], tuple[str, ...]] | None = None
    days: str | None = None
    event: bool = False
    future: bool = False
    ops: tuple[str, ...] | None = None

    @property
    def allowed_ops(self) -> tuple[str, ...]:
        """Operators this field accepts."""
        return self.ops if self.ops is not None else OPS_BY_KIND[self.kind]


def _f(name: str, group: str, kind: str, description: str, **options: object) -> FieldSpec:
    return FieldSpec(name, group, kind, description, **options)  # type: ignore[arg-type]


_SCORE = {"integer": True, "minimum": 1, "maximum": 5}
_PROBABILITY = {"minimum": 0, "maximum": 1}
_COUNT = {"integer": True, "minimum": 0, "ops": COMPARE_OPS}

FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        # Profile: the customer row and the brand relationship.
        _f("state", "profile", "text", "State (UF) of the customer's address, e.g. SP."),
        _f("city", "profile", "text", "City of the customer's address."),
        _f("signup_date", "profile", "date", "When the customer was first seen by the brand."),
        _f("birth_date", "profile", "date", "Date of birth, when the hub has it."),
        _f("birthday", "profile", "birthday", "Birthday (day and month of birth_date)."),
        _f("b2b", "profile", "boolean", "The customer's document is a CNPJ (a company)."),
        # Behaviour: purchases as analytics defines them (status not canceled/unavailable).
        _f(
            "orders",
            "behaviour",
            "number",
            "Purchases (with days: in the last N days).",
            days="optional",
            **_COUNT,
        ),
        _f(
            "net_revenue",
            "behaviour",
            "money",
            "Sum of purchases' net values: paid minus refunds, floored at 0 per order "
            "(with days: purchases in the last N days).",
            days="optional",
            minimum=0,
            ops=COMPARE_OPS,
        ),
        _f(
            "aov",
            "behaviour",
            "money",
            "Average order value: paid total of purchases / purchases.",
            minimum=0,
        ),
        _f("first_order_date", "behaviour", "date", "Day of the first purchase."),
        _f("last_order_date", "behaviour", "date", "Day of the last purchase."),
        _f(
            "days_since_last_order",
            "behaviour",
            "number",
            "Today minus the UTC day of the last purchase (null without purchases).",
            integer=True,
            minimum=0,
        ),
        _f(
            "bought_product",
            "behaviour",
            "items",
            "Bought one of these products (external ids), ever or in the last N days.",
            days="optional",
        ),
        _f(
            "bought_category",
            "behaviour",
            "items",
            "Bought in one of these categories (slugs), ever or in the last N days.",
            days="optional",
        ),
        _f(
            "channel",
            "behaviour",
            "items",
            "Made a purchase through one of these channels.",
            days="optional",
        ),
        _f(
            "returned",
            "behaviour",
            "boolean",
            "Has a return (not a cancellation), ever or in the last N days.",
            days="optional",
            ops=("eq",),
        ),
        _f(
            "review_score",
            "behaviour",
            "number",
            "Wrote a review whose score satisfies the comparison, ever or in the last N days.",
            days="optional",
            integer=True,
            minimum=1,
            maximum=5,
            ops=COMPARE_OPS,
        ),
        _f(
            "event_count",
            "behaviour",
            "number",
            "Number of events of type `event`, ever or in the last N days.",
            days="optional",
            event=True,
            **_COUNT,
        ),
        # Analytics and models: the latest customer_scores row of the customer.
        _f(
            "rfm_segment",
            "analytics",
            "text",
            "RFM segment key of the latest analytics run.",
            choices=rfm_segment_keys,
        ),
        _f("r_score", "analytics", "number", "RFM recency score (1-5).", **_SCORE),
        _f("f_score", "analytics", "number", "RFM frequency score (1-5).", **_SCORE),
        _f("m_score", "analytics", "number", "RFM monetary score (1-5).", **_SCORE),
        _f("cluster", "analytics", "number", "Behaviour cluster id.", integer=True, minimum=0),
        _f(
            "p_alive",
            "analytics",
            "number",
            "Probability the customer is still active.",
            **_PROBABILITY,
        ),
        _f("clv", "analytics", "money", "Predicted customer lifetime value.", minimum=0),
        _f("churn_risk", "analytics", "number", "Predicted churn risk.", **_PROBABILITY),
        _f(
            "expected_next_order_date",
            "analytics",
            "date",
            "Predicted day of the next order.",
            future=True,
        ),
        _f(
            "lead_score",
            "analytics",
            "number",
            "Best conversion probability of the leads behind the customer's deals "
            "(null without a scored lead).",
            **_PROBABILITY,
        ),
        # Loyalty: the account in the brand's active program.
        _f(
            "points_balance",
            "loyalty",
            "number",
            "Spendable points (null without an account in the active program).",
            integer=True,
            minimum=0,
        ),
        _f(
            "pending_points",
            "loyalty",
            "number",
            "Points earned, not yet released.",
            integer=True,
            minimum=0,
        ),
        _f("tier", "loyalty", "text", "Code of the tier in force (override first)."),
        _f(
            "points_expiring",
            "loyalty",
            "number",
            "Points of active lots that expire in the next N days.",
            days="required",
            **_COUNT,
        ),
    )
}
