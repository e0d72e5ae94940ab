"""Journey definitions: validation with node paths and the canonical JSON versions store.

A definition (YAML file, API body)::

    key: post_purchase_thanks
    name: {pt-BR: "Obrigado pela compra", en: "Thank you for your order"}
    trigger: {type: order_placed}
    entry: {key: order, reentry: once_per_key}
    exit_when: [{type: unsubscribed}]
    start: wait_a_day
    nodes:
      wait_a_day: {type: wait, duration: 1d, window: {from: "09:00", to: "20:00"}, next: thank}
      thank: {type: send, channel: email, template: post_purchase_thanks, next: done}
      done: {type: exit}

:func:`parse_journey` reports every problem at once with its path
(``nodes.check.rule.all[0].field: ...``); condition rules are validated by the segments'
rule checker (:func:`recompra.segments.definition.parse_rule`), so a condition accepts
exactly what a live segment does. The graph must be acyclic (every node of a run is
decided once, under its own execution key) and every node reachable from ``start``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from recompra.automation.trigger_types import check_trigger
from recompra.errors import InvalidInput
from recompra.hub.properties import valid_name
from recompra.models.voc import SURVEY_KINDS
from recompra.segments.definition import (
    KEY_PATTERN,
    InvalidDefinition,
    Problem,
    parse_rule,
    rule_to_json,
)
from recompra.segments.property_rules import property_name

DEFAULT_TIMEZONE = "America/Sao_Paulo"
DEFAULT_HOLDOUT_PERCENT = 10.0
#: Order stages a run leaves on (its own order for runs keyed by order).
ORDER_STAGE_EXITS = (
    "order_paid",
    "order_shipped",
    "order_delivered",
    "order_canceled",
    "order_returned",
)
EXIT_TYPES = (
    "order_placed",
    "unsubscribed",
    "event",
    "segment_exited",
    "review_received",
    *ORDER_STAGE_EXITS,
)
ENTRY_KEYS = ("customer", "order")
REENTRY = ("once_ever", "once_per_key", "cooldown")
CHANNELS = ("email", "webhook")
PURPOSES = ("marketing", "transactional")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Fields each node type takes besides ``type``; those ending in ``next`` name nodes.
NODE_FIELDS: dict[str, tuple[str, ...]] = {
    "wait": ("duration", "window", "until", "next"),
    "wait_for_event": ("event", "timeout", "next", "timeout_next"),
    "condition": ("rule", "then", "else"),
    "split": ("branches",),
    "holdout": ("percent", "next"),
    "send": ("channel", "template", "endpoint", "purpose", "on_cap", "survey", "next"),
    "give_points": ("points", "next"),
    "coupon": ("pool", "prefix", "valid_for", "next"),
    "update_property": ("property", "set", "increment", "next"),
    "exit": (),
}
_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
#: Properties a ``wait`` can wait until besides custom ones (see automation.actions).
BUILT_IN_DATES = (
    "birth_date",
    "order.purchased_at",
    "order.estimated_delivery_at",
    "order.delivered_at",
    "order.shipped_at",
)


class InvalidJourney(InvalidInput):
    """A journey definition was refused; ``problems`` lists every reason with its path."""

    code = "invalid_journey_definition"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        listed = "; ".join(str(p) for p in problems)
        super().__init__(
            f"invalid journey definition ({len(problems)} problem(s)): {listed}",
            field=problems[0].path if problems else None,
        )


@dataclass(frozen=True)
class JourneyDefinition:
    """A validated definition; ``document`` is its canonical JSON (money in minor units)."""

    key: str
    document: dict[str, Any]

    @property
    def nodes(self) -> dict[str, dict[str, Any]]:
        """The nodes by name."""
        nodes: dict[str, dict[str, Any]] = self.document["nodes"]
        return nodes


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``2h``, ``3d`` as a timedelta (raises ValueError otherwise)."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 3d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_clock(text: str) -> time:
    """``HH:MM`` as a time (raises ValueError otherwise)."""
    match = _CLOCK.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a time of day like 09:00")
    return time(int(match.group(1)), int(match.group(2)))


def successors(node: dict[str, Any]) -> list[str]:
    """The node names ``node`` can continue to."""
    names = [node[f] for f in ("next", "then", "else", "timeout_next") if f in node]
    names.extend(branch["next"] for branch in node.get("branches", ()))
    return names


def parse_journey(document: Any) -> JourneyDefinition:
    """Validate a definition document; raise :class:`InvalidJourney` listing every problem."""
    checker = _Checker()
    canonical = checker.document(document)
    if checker.problems or canonical is None:
        raise InvalidJourney(checker.problems or [Problem("$", "empty definition")])
    return JourneyDefinition(key=canonical["key"], document=canonical)


def to_display(definition: dict[str, Any]) -> dict[str, Any]:
    """A stored (canonical) definition as written in files: condition money in units."""
    shown = {**definition, "nodes": {}}
    for name, node in definition["nodes"].items():
        if node["type"] == "condition":
            node = {**node, "rule": rule_to_json(parse_rule(node["rule"]), money="units")}
        shown["nodes"][name] = node
    return shown


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def document(self, raw: Any) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            self.fail("$", "a journey is a mapping with key, name, trigger, start and nodes")
            return None
        allowed = {
            "key",
            "name",
            "trigger",
            "entry",
            "exit_when",
            "caps",
            "timezone",
            "start",
            "nodes",
        }
        for extra in sorted(set(raw) - allowed):
            self.fail(str(extra), f"unknown key (expected {', '.join(sorted(allowed))})")
        key = raw.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            self.fail("key", "required: lower-case letters, digits, _ or -, at most 64")
        name = raw.get("name")
        if not isinstance(name, dict) or not all(
            isinstance(name.get(loc), str) and name[loc].strip() for loc in ("pt-BR", "en")
        ):
            self.fail("name", "required: a mapping with pt-BR and en texts")
        timezone = raw.get("timezone", DEFAULT_TIMEZONE)
        try:
            ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            self.fail("timezone", f"unknown time zone {timezone!r}")
        out: dict[str, Any] = {
            "key": key,
            "name": {"pt-BR": (name or {}).get("pt-BR"), "en": (name or {}).get("en")}
            if isinstance(name, dict)
            else None,
            "timezone": timezone,
            "trigger": self.trigger(raw.get("trigger")),
            "entry": self.entry(raw.get("entry", {})),
            "exit_when": self.exits(raw.get("exit_when", [])),
        }
        if "caps" in raw:
            # Only a journey with caps gets the key: older definitions keep their
            # canonical form (and their stored versions stay equal).
            out["caps"] = self.caps(raw["caps"])
        nodes = self.nodes(raw.get("nodes"))
        start = raw.get("start")
        if not isinstance(start, str) or start not in nodes:
            self.fail("start", f"must name a node (got {start!r})")
        else:
            self.graph(start, nodes)
        out["start"] = start
        out["nodes"] = nodes
        return out

    def trigger(self, raw: Any) -> dict[str, Any]:
        return check_trigger(raw, self.fail)

    def entry(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.fail("entry", "a mapping with key, reentry and cooldown_days")
            return {}
        out = {"key": raw.get("key", "customer"), "reentry": raw.get("reentry", "once_per_key")}
        if out["key"] not in ENTRY_KEYS:
            self.fail("entry.key", f"one of {', '.join(ENTRY_KEYS)}")
        if out["reentry"] not in REENTRY:
            self.fail("entry.reentry", f"one of {', '.join(REENTRY)}")
        cooldown = raw.get("cooldown_days")
        if out["reentry"] == "cooldown":
            if not isinstance(cooldown, int) or isinstance(cooldown, bool) or cooldown < 1:
                self.fail("entry.cooldown_days", "required by cooldown: whole days, at least 1")
            out["cooldown_days"] = cooldown
        elif cooldown is not None:
            self.fail("entry.cooldown_days", "only taken with reentry: cooldown")
        return out

    def exits(self, raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            self.fail("exit_when", "a list of exit conditions")
            return []
        out = []
        for i, item in enumerate(raw):
            path = f"exit_when[{i}]"
            if not isinstance(item, dict) or item.get("type") not in EXIT_TYPES:
                self.fail(f"{path}.type", f"one of {', '.join(EXIT_TYPES)}")
                continue
            needs = {"event": "event", "segment_exited": "segment"}.get(item["type"])
            if needs and not isinstance(item.get(needs), str):
                self.fail(f"{path}.{needs}", f"required by {item['type']}")
            out.append({"type": item["type"], **({needs: item.get(needs)} if needs else {})})
        return out

    def caps(self, raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            self.fail("caps", "a list of {limit, window} or {limit, per: day}")
            return []
        out = []
        for i, cap in enumerate(raw):
            path = f"caps[{i}]"
            if not isinstance(cap, dict):
                self.fail(path, "a mapping {limit, window} or {limit, per: day}")
                continue
            limit = cap.get("limit")
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                self.fail(f"{path}.limit", "a whole number of messages, at least 1")
            if cap.get("per") == "day" and "window" not in cap:
                out.append({"limit": limit, "per": "day"})
            elif "per" not in cap:
                out.append({"limit": limit, "window": self.duration(cap, "window", path)})
            else:
                self.fail(path, "either window (a duration) or per: day")
        return out

    def nodes(self, raw: Any) -> dict[str, dict[str, Any]]:
        if not isinstance(raw, dict) or not raw:
            self.fail("nodes", "required: a mapping of node name to node")
            return {}
        out: dict[str, dict[str, Any]] = {}
        for name, node in raw.items():
            path = f"nodes.{name}"
            if not isinstance(name, str) or not KEY_PATTERN.match(name):
                self.fail(path, "node names are lower-case letters, digits, _ or -")
                continue
            checked = self.node(node, path)
            if checked is not None:
                out[name] = checked
        for name, node in out.items():
            for field, target in self.targets(node):
                if isinstance(target, str) and target not in raw:
                    self.fail(f"nodes.{name}.{field}", f"unknown node {target!r}")
        return out

    @staticmethod
    def targets(node: dict[str, Any]) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = [
            (f, node[f]) for f in ("next", "then", "else", "timeout_next") if f in node
        ]
        found.extend(
            (f"branches[{i}].next", b["next"]) for i, b in enumerate(node.get("branches", ()))
        )
        return found

    def node(self, raw: Any, path: str) -> dict[str, Any] | None:
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("type"), str)
            or raw["type"] not in NODE_FIELDS
        ):
            self.fail(f"{path}.type", f"one of {', '.join(NODE_FIELDS)}")
            return None
        kind = raw["type"]
        for extra in sorted(set(raw) - {"type", *NODE_FIELDS[kind]}):
            self.fail(f"{path}.{extra}", f"not taken by a {kind} node")
        out: dict[str, Any] = {"type": kind}
        for field in ("next", "then", "else", "timeout_next"):
            if field in NODE_FIELDS[kind]:
                if not isinstance(raw.get(field), str):
                    self.fail(f"{path}.{field}", "required: the name of the next node")
                out[field] = raw.get(field)
        getattr(self, kind)(raw, path, out)
        return out

    def duration(self, raw: dict[str, Any], field: str, path: str) -> str | None:
        try:
            parse_duration(raw.get(field))  # type: ignore[arg-type]
        except ValueError as error:
            self.fail(f"{path}.{field}", str(error))
            return None
        return str(raw[field])

    def wait(self, raw: dict[str, Any], path: str, out: dict[str, Any]) -> None:
        if "until" in raw:
            out["until"] = self.until(raw["until"], f"{path}.until")
            if "duration" not in raw and "window" not in raw:
                return
        out["duration"] = self.duration(raw, "duration", path)
        window = raw.get("window")
        if window is None:
            return
        if not isinstance(window, dict):
            self.fail(f"{path}.window", "a mapping with from, to and weekdays")
            return
        for bound in ("from", "to"):
            try:
                parse_clock(window.get(bound))  # type: ignore[arg-type]
            except ValueError as error:
                self.fail(f"{path}.window.{bound}", str(error))
        weekdays = window.get("weekdays", list(WEEKDAYS))
        if (
            not isinstance(weekdays, list)
            or not weekdays
            or not all(isinstance(day, str) and day in WEEKDAYS for day in weekdays)
        ):
            self.fail(f"{path}.window.weekdays", f"a non-empty list of {', '.join(WEEKDAYS)}")
        out["window"] = {"from": window.get("from"), "to": window.get("to"), "weekdays": weekdays}

    def until(self, raw: Any, path: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.fail(path, "a mapping with property, offset_days and at")
            return {}
        prop = raw.get("property")
        custom = isinstance(prop, str) and (valid_name(prop) or property_name(prop) is not None)
        if not isinstance(prop, str) or not (prop in BUILT_IN_DATES or custom):
            known = ", ".join(BUILT_IN_DATES)
            self.fail(f"{path}.property", f"{known} or a custom property (name or property.<name>)")
        offset = raw.get("offset_days", 0)
        if not isinstance(offset, int) or isinstance(offset, bool) or not -365 <= offset <= 365:
            self.fail(f"{path}.offset_days", "whole days between -365 and 365")
        at = raw.get("at", "09:00")
        try:
            parse_clock(at)
        except ValueError as error:
            self.fail(f"{path}.at", str(error))
        return {"property": prop, "offset_days": offset, "at": at}

    def wait_for_event(self, raw: dict[str, Any], path: str, out: dict[str, Any]) -> None:
        if not isinstance(raw.get("event"), str) or not raw["event"]:
            self.fail(f"{path}.event", "required: the event type to wait for")
        out["event"] = raw.get("event")
        out["timeout"] = self.duration(raw, "timeout", path)

    def condition(self, raw: dict[str, Any], path: str, out: dict[str, Any]) -> None:
        try:
            rule = parse_rule(raw.get("rule"), money="units")
        except InvalidDefinition as refused:
            # The segment checker names paths from "rule"; put them under this node.
            for problem in refused.problems:
                self.fail(f"{path}.{problem.path}", problem.message)
            return
        out["rule"] = rule_to_json(rule)

    def split(self, raw: dict[str, Any], path: str, out: dict[str, Any]) -> None:
        branches = raw.get("branches")
        if not isinstance(branches, list) or len(branches) < 2:
            self.fail(f"{path}.branches", "at least two branches {weight, next}")
            return
        out["branches"] = []
        for i, branch in enumerate(branches):
            weight = branch.get("weight") if isinstance(branch, dict) else None
            if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
                self.fail(f"{path}.branches[{i}].weight", "a whole number, at least 1")
            target = branch.get("next") if isinstance(branch, dict) else None
            if not isinstance(target, str):
                self.fail(f"{path}.branches[{i}].next", "required: the name of the next node")
            out["branches"].append({"weight": weight, "next": target})

    def holdout(self, raw: dict[str, Any], path: str, out: dict[str, Any]) -> None:
        percent = raw.get("percent", DEFAULT_HOLDOUT_PERCENT)
        if not isinstance(percent, int | float) or isinstance(percent, bool):
            percent = -1
        if not 0 <= percent <= 50:
            self.fail(f"{path}.percent", "a share between 0 and 50 (percent)")
        out["percent"] = float(percent)

    def send(self, raw: dict[str, Any], path: str, out: dict[str, Any]) -> None:
        channel = raw.get("channel")
        if channel not in CHANNELS:
            self.fail(f"{path}.channel", f"one of {', '.join(CHANNELS)}")
        needs = "template" if channel == "email" else "endpoint"
        other = "endpoint" if channel == "email" else "template"
        if not isinstance(raw.get(needs), str):
            self.fail(f"{path}.{needs}", f"required by the {channel} channel")
        if needs == "endpoint" and not isinstance(raw.get("template"), str | type(None)):
            self.fail(f"{path}.template", "the name of the webhook body's template")
        if channel == "email" and other in raw:
            self.fail(f"{path}.{other}", "not taken by the email channel")
        purpose = raw.get("purpose", "marketing")
        if purpose not in PURPOSES:
            self.fail(f"{path}.purpose", f"one of {', '.join(PURPOSES)}")
        on_cap = raw.get("on_cap", "defer")
        if on_cap not in ("skip", "defer"):
            self.fail(f"{path}.on_cap", "skip or defer")
        survey = raw.get("survey")
        if survey is not None and (channel != "email" or survey not in SURVEY_KINDS):
            self.fail(f"{path}.survey", f"an e-mail survey: one of {', '.join(SURVEY_KINDS)}")
        if survey is not None:
            # Only a send that carries a survey gets the survey key: older definitions
            # keep their canonical form (and their stored versions stay equal).
            out["survey"] = survey
        out.update(
            channel=channel,
            template=raw.get("template"),
            endpoint=raw.get("endpoint"),
            purpose=purpose,
            on_cap=on_cap,
        )

    def give_points(self, raw: dict[str, Any], path: str, out: dict[str, Any]) -> None:
        points = raw.get("points")
        if not isinstance(points, int) or isinstance(points, bool) or not 1 <= points <= 1_000_000:
            self.fail(f"{path}.points", "whole points between 1 and 1,000,000")
        out["points"] = points

    def coupon(self, raw: dict[str, Any], path: str, out: dict[str, Any]) -> None:
        pool = raw.get("pool")
        if not isinstance(pool, str) or not KEY_PATTERN.match(pool):
            self.fail(f"{path}.pool", "required: a pool's name, or generated")
        out["pool"] = pool
        prefix = raw.get("prefix", "")
        if not isinstance(prefix, str) or not re.fullmatch(r"[A-Z0-9-]{0,16}", prefix):
            self.fail(f"{path}.prefix", "up to 16 capital letters, digits or -")
        if prefix and pool != "generated":
            self.fail(f"{path}.prefix", "only taken by generated codes")
        out["prefix"] = prefix
        out["valid_for"] = self.duration(raw, "valid_for", path) if "valid_for" in raw else None

    def update_property(self, raw: dict[str, Any], path: str, out: dict[str, Any]) -> None:
        prop = raw.get("property")
        if not valid_name(prop):
            self.fail(f"{path}.property", "required: lower-case letters, digits, _ or -")
        out["property"] = prop
        if ("set" in raw) == ("increment" in raw):
            self.fail(path, "either set (a value) or increment (a whole number)")
        elif "increment" in raw:
            step = raw["increment"]
            if not isinstance(step, int) or isinstance(step, bool):
                self.fail(f"{path}.increment", "a whole number (negative to decrease)")
            out["increment"] = step
        else:
            value = raw["set"]
            if not isinstance(value, str | int | bool) or isinstance(value, float):
                self.fail(f"{path}.set", "text, a whole number or true/false")
            out["set"] = value

    def exit(self, raw: dict[str, Any], path: str, out: dict[str, Any]) -> None:
        return None

    def graph(self, start: str, nodes: dict[str, dict[str, Any]]) -> None:
        """Refuse cycles (a node of a run is decided once) and unreachable nodes."""
        state: dict[str, int] = {}  # 1: on the current path, 2: finished

        def visit(name: str, trail: list[str]) -> None:
            if not isinstance(name, str):  # already reported by the node's own check
                return
            if state.get(name) == 1:
                loop = " -> ".join([*trail[trail.index(name) :], name])
                self.fail(f"nodes.{name}", f"cycle {loop}: journeys are acyclic")
                return
            if state.get(name) == 2 or name not in nodes:
                return
            state[name] = 1
            for target in successors(nodes[name]):
                visit(target, [*trail, name])
            state[name] = 2

        visit(start, [])
        for name in nodes:
            if name not in state:
                self.fail(f"nodes.{name}", f"not reachable from start {start!r}")
