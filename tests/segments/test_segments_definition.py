"""Definition validation: every problem reported at once with the path of its node."""

from __future__ import annotations

from typing import Any

import pytest

from recompra.analytics.rfm import SEGMENTS
from recompra.segments.definition import (
    InvalidDefinition,
    definition_to_json,
    parse_definition,
)
from recompra.segments.fields import rfm_segment_keys


def problems(document: Any) -> dict[str, str]:
    with pytest.raises(InvalidDefinition) as caught:
        parse_definition(document)
    return {p.path: p.message for p in caught.value.problems}


def test_every_problem_is_listed_with_its_path() -> None:
    found = problems(
        {
            "key": "Bad Key",
            "name": {"pt-BR": "Ruim"},
            "colour": "red",
            "rule": {
                "all": [
                    {"field": "state", "op": "eq", "value": "SP"},
                    {
                        "any": [
                            {"field": "churn_risk", "op": "gte", "value": 1.5},
                            {"field": "stat", "op": "eq", "value": "SP"},
                        ]
                    },
                    {"field": "orders", "op": "contains", "value": 1},
                    {"field": "net_revenue", "op": "gte", "value": "500"},
                    {"field": "rfm_segment", "op": "in", "value": ["at_risk", "cant_lose"]},
                    {"field": "points_expiring", "op": "gte", "value": 10},
                    {"field": "orders", "op": "between", "value": [5, 2]},
                    {"not": {"field": "r_score", "op": "eq", "value": 6}},
                    {"field": "net_revenue", "op": "gte", "value": 10.005},
                    {"field": "state", "op": "is_null", "value": "SP"},
                    {"field": "event_count", "op": "gte", "value": 1},
                    {"field": "orders", "op": "gte", "value": 1.5},
                    {"field": "first_order_date", "op": "gte", "value": "2018-13-01"},
                    {"any": []},
                ]
            },
        }
    )
    assert set(found) == {
        "colour",
        "key",
        "name.en",
        "rule.all[1].any[0].value",
        "rule.all[1].any[1].field",
        "rule.all[2].op",
        "rule.all[3].value",
        "rule.all[4].value[1]",
        "rule.all[5].days",
        "rule.all[6].value",
        "rule.all[7].not.value",
        "rule.all[8].value",
        "rule.all[9].value",
        "rule.all[10].event",
        "rule.all[11].value",
        "rule.all[12].value",
        "rule.all[13].any",
    }
    assert "can never be true" in found["rule.all[1].any[0].value"]
    assert "did you mean 'state'" in found["rule.all[1].any[1].field"]
    assert "did you mean 'cant_lose_them'" in found["rule.all[4].value[1]"]
    assert "empty range" in found["rule.all[6].value"]
    assert "can never be true" in found["rule.all[7].not.value"]
    assert "two decimals" in found["rule.all[8].value"]


def test_the_error_message_names_every_path() -> None:
    with pytest.raises(InvalidDefinition) as caught:
        parse_definition(
            {
                "key": "k",
                "name": {"pt-BR": "a", "en": "b"},
                "rule": {"all": [{"field": "x", "op": "eq", "value": 1}, {"not": 3}]},
            }
        )
    assert caught.value.status_code == 400
    assert "rule.all[0].field: unknown field 'x'" in caught.value.message
    assert "rule.all[1].not: expected a mapping" in caught.value.message


def test_rfm_values_are_the_analytics_segment_keys() -> None:
    assert tuple(s.key for s in SEGMENTS) == rfm_segment_keys()


def test_money_is_read_in_units_and_kept_in_minor_units() -> None:
    document = {
        "key": "big",
        "name": {"pt-BR": "Grandes", "en": "Big"},
        "rule": {
            "all": [
                {"field": "net_revenue", "op": "between", "value": [500.5, 1000]},
                {"field": "first_order_date", "op": "gte", "value": "2018-01-01"},
                {"field": "orders", "op": "gte", "value": 2, "days": 90},
            ]
        },
    }
    parsed = parse_definition(document)
    leaf = parsed.rule.children[0]  # type: ignore[union-attr]
    assert leaf.value == (50_050, 100_000)  # type: ignore[union-attr]
    # Round trip: the document written back reads the same.
    assert parse_definition(definition_to_json(parsed)) == parsed
    assert definition_to_json(parsed)["rule"]["all"][0]["value"] == [500.5, 1000.0]
