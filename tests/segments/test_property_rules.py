"""Segment rules over customer properties (SQLite and PostgreSQL): what each typed operator
selects, on the hub (incremental path) and on the DuckDB copy (full evaluation), against
an independent computation in plain Python over the values the test wrote; and the
validation of property conditions."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from segmenttest import NOW, brand, customer, members_on
from sqlalchemy import Engine

from dbtest import BACKENDS, create_test_engine
from recompra.db import unit_of_work
from recompra.hub.properties import write_properties
from recompra.segments.compile import compile_rule
from recompra.segments.definition import InvalidDefinition, parse_definition, parse_rule

TODAY = NOW.date()
CUSTOMERS = 60
Props = dict[str, Any]


@dataclass
class Store:
    engine: Engine
    brand: int
    values: dict[int, Props]


def _random_properties(rng: random.Random) -> Props:
    """A mix of types per name, missing values, timestamps and texts that are not dates."""
    options: dict[str, list[Any]] = {
        "plan": ["gold", "silver", "Gold plan", "bronze", 3, None],
        "pets": [0, 1, 2, 5, 12, "two", True, None],
        "vip": [True, False, "yes", None],
        "since": [
            (TODAY - timedelta(days=rng.randint(-40, 40))).isoformat(),
            f"{(TODAY - timedelta(days=rng.randint(0, 10))).isoformat()}T23:00:00Z",
            "2019-05-04",
            "17/06/2019",
            "soon",
            None,
        ],
    }
    chosen = {name: rng.choice(values) for name, values in options.items()}
    return {k: v for k, v in chosen.items() if v is not None}


@pytest.fixture(scope="module", params=BACKENDS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    rng = random.Random(15)
    for engine in create_test_engine(request.param, tmp_path_factory.mktemp("props")):
        with unit_of_work(engine) as session:
            b = brand(session)
            other = brand(session, "outra")
            values: dict[int, Props] = {}
            for _ in range(CUSTOMERS):
                c = customer(session, b)
                values[c] = _random_properties(rng)
                write_properties(
                    session, brand_id=b, customer_id=c, values=values[c], replace=True, now=NOW
                )
            # Another brand's properties never count for this brand.
            stranger = customer(session, other)
            write_properties(
                session,
                brand_id=other,
                customer_id=stranger,
                values={"plan": "gold", "pets": 5, "vip": True},
                replace=True,
                now=NOW,
            )
        yield Store(engine, b, values)


def _number(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _day(v: Any) -> date | None:
    """The calendar day of a date property as the test reads it: ISO text's first 10."""
    if not isinstance(v, str):
        return None
    try:
        return date.fromisoformat(v[:10])
    except ValueError:
        return None


def _on(name: str, test: Callable[[Any], bool]) -> Callable[[Props], bool]:
    return lambda props: name in props and test(props[name])


CASES: list[tuple[str, dict[str, Any], Callable[[Props], bool]]] = [
    ("text_eq", {"op": "eq", "value": "gold"}, _on("plan", lambda v: v == "gold")),
    (
        "text_ne",
        {"op": "ne", "value": "gold"},
        _on("plan", lambda v: isinstance(v, str) and v != "gold"),
    ),
    (
        "text_in",
        {"op": "in", "value": ["gold", "bronze"]},
        _on("plan", lambda v: v in ("gold", "bronze")),
    ),
    (
        "text_not_in",
        {"op": "not_in", "value": ["gold", "bronze"]},
        _on("plan", lambda v: isinstance(v, str) and v not in ("gold", "bronze")),
    ),
    (
        "text_contains",
        {"op": "contains", "value": "old"},
        _on("plan", lambda v: isinstance(v, str) and "old" in v),
    ),
    (
        "text_contains_is_case_sensitive",
        {"op": "contains", "value": "Gold"},
        _on("plan", lambda v: isinstance(v, str) and "Gold" in v),
    ),
    ("number_eq", {"op": "eq", "value": 3}, _on("plan", lambda v: _number(v) and v == 3)),
    ("number_gt", {"op": "gt", "value": 1}, _on("pets", lambda v: _number(v) and v > 1)),
    ("number_lte", {"op": "lte", "value": 2}, _on("pets", lambda v: _number(v) and v <= 2)),
    (
        "number_between",
        {"op": "between", "value": [1, 5]},
        _on("pets", lambda v: _number(v) and 1 <= v <= 5),
    ),
    (
        "number_not_in",
        {"op": "not_in", "value": [0, 12]},
        _on("pets", lambda v: _number(v) and v not in (0, 12)),
    ),
    ("boolean_true", {"op": "eq", "value": True}, _on("vip", lambda v: v is True)),
    ("boolean_false", {"op": "eq", "value": False}, _on("vip", lambda v: v is False)),
    (
        "date_before",
        {"op": "lt", "value": "2020-01-01"},
        _on("since", lambda v: (d := _day(v)) is not None and d < date(2020, 1, 1)),
    ),
    (
        "date_after",
        {"op": "gt", "value": TODAY.isoformat()},
        _on("since", lambda v: (d := _day(v)) is not None and d > TODAY),
    ),
    (
        "date_between",
        {"op": "between", "value": [(TODAY - timedelta(10)).isoformat(), TODAY.isoformat()]},
        _on(
            "since",
            lambda v: (d := _day(v)) is not None and TODAY - timedelta(10) <= d <= TODAY,
        ),
    ),
    (
        "date_within_last",
        {"op": "within_days", "value": 7},
        _on("since", lambda v: (d := _day(v)) is not None and TODAY - timedelta(7) <= d <= TODAY),
    ),
    (
        "date_within_next",
        {"op": "within_next_days", "value": 30},
        _on("since", lambda v: (d := _day(v)) is not None and TODAY <= d <= TODAY + timedelta(30)),
    ),
    ("is_set", {"op": "is_not_null"}, lambda props: "since" in props),
    ("is_not_set", {"op": "is_null"}, lambda props: "since" not in props),
]
FIELD_OF = {
    "text": "plan",
    "number_eq": "plan",
    "number": "pets",
    "boolean": "vip",
    "date": "since",
    "is": "since",
}


def _field(case: str) -> str:
    key = next(k for k in FIELD_OF if case.startswith(k))
    return f"property.{FIELD_OF[key]}"


@pytest.mark.parametrize("path", ["hub", "duckdb"])
@pytest.mark.parametrize(("case", "condition", "expected"), CASES, ids=[c[0] for c in CASES])
def test_property_rule_selects_what_python_does(
    store: Store,
    case: str,
    condition: dict[str, Any],
    expected: Callable[[Props], bool],
    path: str,
) -> None:
    query = compile_rule(parse_rule({"field": _field(case), **condition}))
    found = members_on(store.engine, store.brand, query, path)
    wanted = {c for c, props in store.values.items() if expected(props)}
    assert wanted, f"{case}: the seeded store must hold a match (else the test proves nothing)"
    assert found == wanted


def test_a_combined_rule_with_not_matches_python(store: Store) -> None:
    rule = {
        "all": [
            {"field": "property.plan", "op": "in", "value": ["gold", "silver"]},
            {"not": {"field": "property.vip", "op": "eq", "value": True}},
        ]
    }
    found = members_on(store.engine, store.brand, compile_rule(parse_rule(rule)), "hub")
    wanted = {
        c
        for c, props in store.values.items()
        if props.get("plan") in ("gold", "silver") and props.get("vip") is not True
    }
    assert wanted
    assert found == wanted


def _problems(condition: dict[str, Any]) -> list[tuple[str, str]]:
    document = {"key": "k", "name": {"pt-BR": "k", "en": "k"}, "rule": {"all": [condition]}}
    with pytest.raises(InvalidDefinition) as refused:
        parse_definition(document)
    return [(p.path, p.message) for p in refused.value.problems]


@pytest.mark.parametrize(
    ("condition", "path", "words"),
    [
        ({"field": "property.plan", "op": "gt", "value": "gold"}, "value", "type mismatch"),
        ({"field": "property.plan", "op": "contains", "value": 5}, "value", "type mismatch"),
        ({"field": "property.vip", "op": "gte", "value": True}, "value", "type mismatch"),
        ({"field": "property.pets", "op": "in", "value": [1, "a"]}, "value", "type mismatch"),
        (
            {"field": "property.since", "op": "between", "value": ["2020-01-01", 5]},
            "value",
            "type mismatch",
        ),
        ({"field": "property.plan", "op": "matches", "value": "g"}, "op", "unknown operator"),
        ({"field": "property.Plan", "op": "eq", "value": "g"}, "field", "property name"),
        ({"field": "property.since", "op": "within_days", "value": -1}, "value", "whole number"),
        ({"field": "property.plan", "op": "eq", "value": "g", "days": 3}, "days", "takes no"),
        ({"field": "property.plan", "op": "is_null", "value": "g"}, "value", "takes no value"),
    ],
)
def test_invalid_property_conditions_name_the_rule_the_field_and_why(
    condition: dict[str, Any], path: str, words: str
) -> None:
    problems = _problems(condition)
    assert len(problems) == 1
    where, message = problems[0]
    assert where == f"rule.all[0].{path}"
    assert condition["field"] in message
    assert words in message
