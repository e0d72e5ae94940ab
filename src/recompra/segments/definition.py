"""Segment definitions: the rule-tree model, its validation and its canonical JSON.

A definition (YAML file, API body) looks like::

    key: sp_valuable_at_risk
    name: {pt-BR: "SP valiosos em risco", en: "SP valuable at risk"}
    rule:
      all:
        - {field: state, op: eq, value: SP}
        - any:
            - {field: rfm_segment, op: in, value: [at_risk, cant_lose_them]}
            - {field: churn_risk, op: gte, value: 0.6}
        - {field: net_revenue, op: gte, value: 500.00}

:func:`parse_definition` checks the whole document and reports every problem at once,
each with the path of the bad node (``rule.all[1].any[0].value: ...``), so a user fixes a
file in one round. Money is written in currency units (two decimals) and held in integer
minor units; :func:`rule_to_json` gives the canonical form that versions store.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from recompra.errors import InvalidInput
from recompra.segments.fields import FIELDS, NULL_OPS, FieldSpec
from recompra.segments.property_rules import (
    PREFIX,
    PROPERTY_OPS,
    PropertyRuleError,
    check_property_value,
    property_name,
    value_json,
)

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LOCALES = ("pt-BR", "en")
#: Bounds that keep one segment's SQL reasonable to plan and to read.
MAX_DEPTH = 8
MAX_CONDITIONS = 64
MAX_LIST = 1000
MAX_DAYS = 3660
MINOR_PER_UNIT = 100
GroupKind = Literal["all", "any", "not"]


@dataclass(frozen=True)
class Condition:
    """A leaf: ``field op value`` with an optional ``days`` window and event type.

    ``value`` is canonical: money in minor units, dates as :class:`datetime.date`, lists
    as tuples.
    """

    field: str
    op: str
    value: Any = None
    days: int | None = None
    event: str | None = None


@dataclass(frozen=True)
class Group:
    """``all`` (and), ``any`` (or) or ``not`` (one child) over child nodes."""

    kind: GroupKind
    children: tuple[Node, ...]


Node = Condition | Group


@dataclass(frozen=True)
class SegmentDefinition:
    """A validated definition: key, names and descriptions per locale, rule tree."""

    key: str
    name_pt: str
    name_en: str
    rule: Node
    description_pt: str | None = None
    description_en: str | None = None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition, at ``path``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InvalidDefinition(InvalidInput):
    """A definition was refused; ``problems`` lists every reason with its path."""

    code = "invalid_segment_definition"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        listed = "; ".join(str(p) for p in problems)
        super().__init__(
            f"invalid segment definition ({len(problems)} problem(s)): {listed}",
            field=problems[0].path if problems else None,
        )


def parse_definition(document: Any, *, money: str = "units") -> SegmentDefinition:
    """Validate a definition document; raise :class:`InvalidDefinition` listing problems.

    ``money="units"`` reads money in currency units (files, API); ``"minor"`` reads the
    canonical form stored with each version.
    """
    problems: list[Problem] = []
    if not isinstance(document, dict):
        raise InvalidDefinition([Problem("$", "a definition is a mapping with key, name, rule")])
    for extra in sorted(set(document) - {"key", "name", "description", "rule"}):
        problems.append(Problem(str(extra), "unknown key (expected key, name, description, rule)"))
    key = document.get("key")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        problems.append(
            Problem("key", "required: lower-case letters, digits, _ or -, at most 64 characters")
        )
    names = _localised(document.get("name"), "name", problems, required=True)
    descriptions = _localised(document.get("description"), "description", problems)
    if "rule" not in document:
        problems.append(Problem("rule", "required"))
        rule: Node | None = None
    else:
        checker = _RuleChecker(money, problems)
        rule = checker.node(document["rule"], "rule", 1)
    if problems or rule is None:
        raise InvalidDefinition(problems or [Problem("rule", "required")])
    return SegmentDefinition(
        key=str(key),
        name_pt=names["pt-BR"] or "",
        name_en=names["en"] or "",
        rule=rule,
        description_pt=descriptions["pt-BR"],
        description_en=descriptions["en"],
    )


def parse_rule(rule: Any, *, money: str = "minor") -> Node:
    """Validate a bare rule tree (the stored canonical form by default)."""
    problems: list[Problem] = []
    node = _RuleChecker(money, problems).node(rule, "rule", 1)
    if problems or node is None:
        raise InvalidDefinition(problems or [Problem("rule", "required")])
    return node


def rule_to_json(node: Node, *, money: str = "minor") -> dict[str, Any]:
    """The canonical JSON of a rule (money in minor units, or in units for display)."""
    if isinstance(node, Group):
        if node.kind == "not":
            return {"not": rule_to_json(node.children[0], money=money)}
        return {node.kind: [rule_to_json(child, money=money) for child in node.children]}
    out: dict[str, Any] = {"field": node.field, "op": node.op}
    if property_name(node.field) is not None:
        if node.op not in NULL_OPS:
            out["value"] = value_json(node.value)
        return out
    spec = FIELDS[node.field]
    if node.op not in NULL_OPS:
        out["value"] = _value_json(node.value, spec, node.op, money)
    if node.days is not None:
        out["days"] = node.days
    if node.event is not None:
        out["event"] = node.event
    return out


def definition_to_json(definition: SegmentDefinition, *, money: str = "units") -> dict[str, Any]:
    """The whole definition as a document :func:`parse_definition` reads back."""
    document: dict[str, Any] = {
        "key": definition.key,
        "name": {"pt-BR": definition.name_pt, "en": definition.name_en},
        "rule": rule_to_json(definition.rule, money=money),
    }
    if definition.description_pt or definition.description_en:
        document["description"] = {
            "pt-BR": definition.description_pt,
            "en": definition.description_en,
        }
    return document


def conditions_of(node: Node) -> list[Condition]:
    """Every leaf of a tree, left to right."""
    if isinstance(node, Condition):
        return [node]
    return [leaf for child in node.children for leaf in conditions_of(child)]


def _value_json(value: Any, spec: FieldSpec, op: str, money: str) -> Any:
    if isinstance(value, tuple):
        return [_value_json(v, spec, "eq", money) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if spec.kind == "money" and op != "within_days" and money == "units":
        return float(Decimal(value) / MINOR_PER_UNIT)
    return value


def _localised(
    value: Any, path: str, problems: list[Problem], *, required: bool = False
) -> dict[str, str | None]:
    out: dict[str, str | None] = dict.fromkeys(LOCALES)
    if value is None:
        if required:
            problems.append(Problem(path, "required: {pt-BR: ..., en: ...}"))
        return out
    if not isinstance(value, dict):
        problems.append(Problem(path, "expected a mapping {pt-BR: ..., en: ...}"))
        return out
    for extra in sorted(set(value) - set(LOCALES)):
        problems.append(Problem(f"{path}.{extra}", "unknown locale (expected pt-BR, en)"))
    limit = 200 if path == "name" else 1000
    for locale in LOCALES:
        text = value.get(locale)
        if text is None and not required:
            continue
        if not isinstance(text, str) or not text.strip() or len(text) > limit:
            problems.append(
                Problem(f"{path}.{locale}", f"required: a non-empty text of at most {limit}")
            )
        else:
            out[locale] = text.strip()
    return out


class _RuleChecker:
    """Walks a raw rule tree, building nodes and collecting every problem."""

    def __init__(self, money: str, problems: list[Problem]) -> None:
        self.money = money
        self.problems = problems
        self.conditions = 0

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def node(self, raw: Any, path: str, depth: int) -> Node | None:
        if not isinstance(raw, dict):
            self.fail(
                path,
                "expected a mapping: {all: [...]}, {any: [...]}, {not: ...} or "
                "{field: ..., op: ..., value: ...}",
            )
            return None
        kinds = [k for k in ("all", "any", "not", "field") if k in raw]
        if len(kinds) != 1:
            self.fail(path, "expected exactly one of all, any, not, field")
            return None
        kind = kinds[0]
        if kind == "field":
            return self.condition(raw, path)
        for extra in sorted(set(raw) - {kind}):
            self.fail(f"{path}.{extra}", f"unexpected key next to {kind}")
        if depth > MAX_DEPTH:
            self.fail(path, f"nested deeper than {MAX_DEPTH} levels")
            return None
        if kind == "not":
            child = self.node(raw["not"], f"{path}.not", depth + 1)
            return Group("not", (child,)) if child is not None else None
        items = raw[kind]
        if not isinstance(items, list) or not items:
            self.fail(f"{path}.{kind}", "expected a non-empty list of rules")
            return None
        children = [
            self.node(item, f"{path}.{kind}[{i}]", depth + 1) for i, item in enumerate(items)
        ]
        built = [c for c in children if c is not None]
        if len(built) != len(children):
            return None
        return Group(kind, tuple(built))  # type: ignore[arg-type]

    def condition(self, raw: dict[str, Any], path: str) -> Condition | None:
        self.conditions += 1
        if self.conditions == MAX_CONDITIONS + 1:
            self.fail(path, f"more than {MAX_CONDITIONS} conditions in one segment")
        for extra in sorted(set(raw) - {"field", "op", "value", "days", "event"}):
            self.fail(f"{path}.{extra}", "unknown key (expected field, op, value, days, event)")
        name = raw.get("field")
        if isinstance(name, str) and name.startswith(PREFIX):
            return self.property_condition(raw, name, path)
        spec = FIELDS.get(name) if isinstance(name, str) else None
        if spec is None:
            close = difflib.get_close_matches(str(name), list(FIELDS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.fail(f"{path}.field", f"unknown field {name!r}{hint}")
            return None
        op = raw.get("op")
        allowed = spec.allowed_ops
        if op not in allowed:
            self.fail(f"{path}.op", f"{op!r} does not apply to {name} (use {', '.join(allowed)})")
            return None
        ok = True
        days = self.days(raw.get("days"), spec, f"{path}.days")
        event = raw.get("event")
        if spec.event and (not isinstance(event, str) or not event.strip() or len(event) > 64):
            self.fail(f"{path}.event", f"{name} needs the event type: event: <type>")
            ok = False
        elif not spec.event and event is not None:
            self.fail(f"{path}.event", f"{name} takes no event type")
            ok = False
        value = self.value(raw, spec, str(op), f"{path}.value")
        if value is _BAD or days is _BAD or not ok:
            return None
        return Condition(
            spec.name, str(op), value, days, event.strip() if isinstance(event, str) else None
        )

    def property_condition(self, raw: dict[str, Any], name: str, path: str) -> Condition | None:
        """A condition on a customer property (:mod:`recompra.segments.property_rules`)."""
        ok = True
        if property_name(name) is None:
            self.fail(
                f"{path}.field",
                f"{name!r}: a property name is lower-case letters, digits, _ or -, at most 64",
            )
            ok = False
        for key in ("days", "event"):
            if raw.get(key) is not None:
                self.fail(f"{path}.{key}", f"{name} takes no {key}")
                ok = False
        op = raw.get("op")
        try:
            value = check_property_value(op, raw.get("value"), max_days=MAX_DAYS, max_list=MAX_LIST)
        except PropertyRuleError as error:
            self.fail(f"{path}.{'op' if op not in PROPERTY_OPS else 'value'}", f"{name}: {error}")
            return None
        return Condition(name, str(op), value) if ok else None

    def days(self, raw: Any, spec: FieldSpec, path: str) -> Any:
        if raw is None:
            if spec.days == "required":
                self.fail(path, f"{spec.name} needs a window: days: N")
                return _BAD
            return None
        if spec.days is None:
            self.fail(path, f"{spec.name} takes no days window")
            return _BAD
        if not _is_int(raw) or not 1 <= raw <= MAX_DAYS:
            self.fail(path, f"expected a whole number of days from 1 to {MAX_DAYS}")
            return _BAD
        return int(raw)

    def value(self, raw: dict[str, Any], spec: FieldSpec, op: str, path: str) -> Any:
        value = raw.get("value")
        if op in NULL_OPS:
            if value is not None:
                self.fail(path, f"{op} takes no value")
                return _BAD
            return None
        if "value" not in raw or value is None:
            self.fail(path, f"{op} needs a value")
            return _BAD
        if op == "within_days":
            top = 366 if spec.kind == "birthday" else MAX_DAYS
            if not _is_int(value) or not 0 <= value <= top:
                self.fail(path, f"within_days needs a whole number of days from 0 to {top}")
                return _BAD
            return int(value)
        if spec.kind == "birthday":  # eq: the birth month
            if not _is_int(value) or not 1 <= value <= 12:
                self.fail(path, "expected a month number from 1 to 12")
                return _BAD
            return int(value)
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value or len(value) > MAX_LIST:
                self.fail(path, f"{op} needs a non-empty list of at most {MAX_LIST} values")
                return _BAD
            items = [self.scalar(v, spec, f"{path}[{i}]") for i, v in enumerate(value)]
            if any(item is _BAD for item in items):
                return _BAD
            if spec.kind != "items" and all(self.out_of_range(v, spec) for v in items):
                self.fail(path, f"no value can match: {spec.name} is {_range_text(spec)}")
                return _BAD
            return tuple(dict.fromkeys(items))
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                self.fail(path, "between needs a list [low, high]")
                return _BAD
            low = self.scalar(value[0], spec, f"{path}[0]")
            high = self.scalar(value[1], spec, f"{path}[1]")
            if low is _BAD or high is _BAD:
                return _BAD
            if low > high:
                self.fail(path, f"empty range: {value[0]} is above {value[1]}")
                return _BAD
            if self.impossible("between", (low, high), spec):
                self.fail(path, f"no value can match: {spec.name} is {_range_text(spec)}")
                return _BAD
            return (low, high)
        scalar = self.scalar(value, spec, path)
        if scalar is _BAD:
            return _BAD
        if self.impossible(op, scalar, spec):
            self.fail(
                path,
                f"{spec.name} {op} {value} can never be true: {spec.name} is {_range_text(spec)}",
            )
            return _BAD
        return scalar

    def scalar(self, value: Any, spec: FieldSpec, path: str) -> Any:
        kind = spec.kind
        if kind in ("text", "items"):
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                self.fail(path, f"expected a text for {spec.name}")
                return _BAD
            choices = spec.choices() if spec.choices is not None else None
            if choices is not None and value not in choices:
                close = difflib.get_close_matches(value, choices, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.fail(path, f"unknown {spec.name} {value!r}; {hint}known: {', '.join(choices)}")
                return _BAD
            return value.strip()
        if kind == "boolean":
            if not isinstance(value, bool):
                self.fail(path, f"expected true or false for {spec.name}")
                return _BAD
            return value
        if kind == "date":
            return self.date(value, spec, path)
        return self.number(value, spec, path)

    def number(self, value: Any, spec: FieldSpec, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, f"expected a number for {spec.name}, got {value!r}")
            return _BAD
        if spec.kind == "money":
            if self.money == "minor":
                if not _is_int(value):
                    self.fail(path, "expected whole minor units")
                    return _BAD
                return int(value)
            try:
                minor = Decimal(str(value)) * MINOR_PER_UNIT
            except InvalidOperation:
                self.fail(path, f"expected an amount for {spec.name}")
                return _BAD
            if minor != minor.to_integral_value():
                self.fail(path, f"{value} has more than two decimals")
                return _BAD
            return int(minor)
        if spec.integer and not _is_int(value):
            self.fail(path, f"expected a whole number for {spec.name}, got {value!r}")
            return _BAD
        return int(value) if spec.integer else float(value)

    def date(self, value: Any, spec: FieldSpec, path: str) -> Any:
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(path, f"expected an ISO date (YYYY-MM-DD) for {spec.name}, got {value!r}")
        return _BAD

    def out_of_range(self, value: Any, spec: FieldSpec) -> bool:
        low, high = self.bounds(spec)
        return (low is not None and value < low) or (high is not None and value > high)

    def bounds(self, spec: FieldSpec) -> tuple[float | None, float | None]:
        if spec.kind not in ("number", "money"):
            return None, None
        return spec.minimum, spec.maximum

    def impossible(self, op: str, value: Any, spec: FieldSpec) -> bool:
        """Whether ``field op value`` can never hold given the field's range."""
        low, high = self.bounds(spec)
        if op == "between":
            return (low is not None and value[1] < low) or (high is not None and value[0] > high)
        checks = {
            "eq": self.out_of_range(value, spec) if spec.kind in ("number", "money") else False,
            "gt": high is not None and value >= high,
            "gte": high is not None and value > high,
            "lt": low is not None and value <= low,
            "lte": low is not None and value < low,
        }
        return bool(checks.get(op, False))


class _Bad:
    """Marker of a value that failed validation (``None`` is a legitimate value)."""


_BAD: Any = _Bad()


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _range_text(spec: FieldSpec) -> str:
    low = "-inf" if spec.minimum is None else f"{spec.minimum:g}"
    high = "+inf" if spec.maximum is None else f"{spec.maximum:g}"
    return f"between {low} and {high}"
