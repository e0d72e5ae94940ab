"""The trigger types a journey may start on, and the fields each takes (validation).

==================  ==========================================================  =========
type                fields                                                      keyed by
==================  ==========================================================  =========
order_placed        —                                                           order
order_paid          —  (approved_at set, or an approved/invoiced/... status)    order
order_shipped       —  (shipped_at set, or shipped)                             order
order_delivered     —  (delivered_at set, or delivered)                         order
order_canceled      —  (canceled/unavailable, or a cancellation recorded)       order
order_returned      —  (returned, or a return recorded)                         order
review_received     ``min_score``, ``max_score`` (1-5, default 1 and 5)         order
segment_entered     ``segment``                                                 customer
segment_exited      ``segment``                                                 customer
event               ``event``                                                   customer
points_expiring     ``days`` (1-365)                                            lot
score_crossed       ``score`` (p_alive, churn_risk), ``threshold`` (0-1),       customer
                    ``direction`` (below/above; default below for p_alive,
                    above for churn_risk)
tier_changed        ``to`` (a tier code, optional), ``direction`` (up, down,    customer
                    any; default any)
birthday            ``offset_days`` (-365..365, default 0)                      customer
date_property       ``property`` (birth_date, created_at, or a custom date       customer
                    property ``property.<name>``), ``offset_days``
milestone           ``orders`` (the nth purchase) or ``spend_minor`` (lifetime  order
                    spend crossed, minor units)
==================  ==========================================================  =========
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recompra.segments.property_rules import property_name

ORDER_STAGES = (
    "order_paid",
    "order_shipped",
    "order_delivered",
    "order_canceled",
    "order_returned",
)
TRIGGERS = (
    "order_placed",
    *ORDER_STAGES,
    "review_received",
    "segment_entered",
    "segment_exited",
    "event",
    "points_expiring",
    "score_crossed",
    "tier_changed",
    "birthday",
    "date_property",
    "milestone",
)
SCORES = {"p_alive": "below", "churn_risk": "above"}
DATE_PROPERTIES = ("birth_date", "created_at")
DIRECTIONS = ("below", "above")
TIER_DIRECTIONS = ("up", "down", "any")

Fail = Callable[[str, str], None]


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def check_trigger(raw: Any, fail: Fail) -> dict[str, Any]:
    """The canonical trigger of ``raw``; every problem is reported through ``fail``."""
    if not isinstance(raw, dict) or raw.get("type") not in TRIGGERS:
        fail("trigger.type", f"required, one of {', '.join(TRIGGERS)}")
        return {}
    kind = raw["type"]
    out: dict[str, Any] = {"type": kind}
    taken: set[str] = set()

    def field(name: str, ok: Callable[[Any], bool], rule: str, default: Any = None) -> None:
        taken.add(name)
        value = raw.get(name, default)
        if name not in raw and default is None:
            fail(f"trigger.{name}", f"required by a {kind} trigger: {rule}")
        elif not ok(value):
            fail(f"trigger.{name}", rule)
        out[name] = value

    if kind in ("segment_entered", "segment_exited"):
        field("segment", _text, "a segment key")
    elif kind == "event":
        field("event", _text, "an event type")
    elif kind == "points_expiring":
        field("days", lambda v: _whole(v, 1, 365), "whole days between 1 and 365")
    elif kind == "review_received":
        field("min_score", lambda v: _whole(v, 1, 5), "a score from 1 to 5", 1)
        field("max_score", lambda v: _whole(v, 1, 5), "a score from 1 to 5", 5)
        low, high = out["min_score"], out["max_score"]
        if _whole(low, 1, 5) and _whole(high, 1, 5) and low > high:
            fail("trigger.min_score", "must not be above max_score")
    elif kind == "score_crossed":
        field("score", lambda v: v in SCORES, f"one of {', '.join(SCORES)}")
        field(
            "threshold",
            lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < 1,
            "a probability strictly between 0 and 1",
        )
        default = SCORES.get(out["score"], "below")
        field("direction", lambda v: v in DIRECTIONS, "below or above", default)
    elif kind == "tier_changed":
        taken.add("to")
        if "to" in raw:
            if not _text(raw["to"]):
                fail("trigger.to", "a tier code")
            out["to"] = raw["to"]
        field("direction", lambda v: v in TIER_DIRECTIONS, "up, down or any", "any")
    elif kind in ("birthday", "date_property"):
        if kind == "date_property":
            field(
                "property",
                lambda v: v in DATE_PROPERTIES or (_text(v) and property_name(v) is not None),
                f"one of {', '.join(DATE_PROPERTIES)} or property.<name> (a custom date property)",
            )
        field("offset_days", lambda v: _whole(v, -365, 365), "whole days from -365 to 365", 0)
    elif kind == "milestone":
        taken.update(("orders", "spend_minor"))
        given = [name for name in ("orders", "spend_minor") if name in raw]
        if len(given) != 1:
            fail("trigger.orders", "a milestone takes exactly one of orders or spend_minor")
        elif given == ["orders"]:
            field("orders", lambda v: _whole(v, 1, 100_000), "the nth purchase, 1 or more")
        else:
            field("spend_minor", lambda v: _whole(v, 1, 10**12), "minor units, 1 or more")
    for extra in sorted(set(raw) - {"type"} - taken):
        fail(f"trigger.{extra}", f"not taken by a {kind} trigger")
    return out
