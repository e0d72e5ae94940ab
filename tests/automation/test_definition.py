"""Journey definitions: every problem with its node path, the segment rule checker reused,
acyclic graphs, the ready-made journeys valid."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml
from automationtest import thank_you

from recompra.automation.definition import InvalidJourney, parse_journey, to_display
from recompra.automation.trigger_types import TRIGGERS


def _problems(document: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidJourney) as refused:
        parse_journey(document)
    return [str(p) for p in refused.value.problems]


def test_every_problem_is_listed_with_its_path() -> None:
    document = thank_you(trigger={"type": "order_teleported"}, entry={"reentry": "cooldown"})
    document["nodes"]["send"] = {"type": "send", "channel": "sms", "next": "nowhere"}
    document["nodes"]["pause"] = {"type": "wait", "duration": "3 days", "next": "done"}
    assert _problems(document) == [
        f"trigger.type: required, one of {', '.join(TRIGGERS)}",
        "entry.cooldown_days: required by cooldown: whole days, at least 1",
        "nodes.send.channel: one of email, webhook",
        "nodes.send.endpoint: required by the sms channel",
        "nodes.pause.duration: '3 days' is not a duration like 30s, 15m, 2h or 3d",
        "nodes.send.next: unknown node 'nowhere'",
        "nodes.done: not reachable from start 'send'",
        "nodes.pause: not reachable from start 'send'",
    ]


def test_condition_rules_are_checked_by_the_segment_rule_checker() -> None:
    document = thank_you(start="check")
    document["nodes"]["check"] = {
        "type": "condition",
        "rule": {
            "all": [
                {"field": "stat", "op": "eq", "value": "SP"},
                {"field": "churn_risk", "op": "gte", "value": 1.5},
            ]
        },
        "then": "send",
        "else": "done",
    }
    problems = _problems(document)
    assert (
        problems[0] == "nodes.check.rule.all[0].field: unknown field 'stat'; did you mean 'state'?"
    )
    assert problems[1].startswith(
        "nodes.check.rule.all[1].value: churn_risk gte 1.5 can never be true"
    )


def test_money_in_conditions_is_stored_in_minor_units_and_shown_in_units() -> None:
    document = thank_you(start="check")
    document["nodes"]["check"] = {
        "type": "condition",
        "rule": {"field": "net_revenue", "op": "gte", "value": 300.5},
        "then": "send",
        "else": "done",
    }
    parsed = parse_journey(document)
    assert parsed.nodes["check"]["rule"] == {"field": "net_revenue", "op": "gte", "value": 30050}
    shown = to_display(parsed.document)["nodes"]["check"]["rule"]
    assert shown["value"] == 300.5


def test_cycles_are_refused() -> None:
    document = thank_you(start="a")
    document["nodes"]["a"] = {"type": "wait", "duration": "1d", "next": "b"}
    document["nodes"]["b"] = {"type": "wait", "duration": "1d", "next": "a"}
    document["nodes"]["send"]["next"] = "done"
    problems = _problems(document)
    assert "nodes.a: cycle a -> b -> a: journeys are acyclic" in problems


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (
            {"type": "holdout", "percent": 80, "next": "done"},
            "nodes.x.percent: a share between 0 and 50 (percent)",
        ),
        (
            {"type": "give_points", "points": 0, "next": "done"},
            "nodes.x.points: whole points between 1 and 1,000,000",
        ),
        (
            {"type": "split", "branches": [{"weight": 1, "next": "done"}]},
            "nodes.x.branches: at least two branches {weight, next}",
        ),
        (
            {
                "type": "wait",
                "duration": "1d",
                "window": {"from": "25:00", "to": "10:00"},
                "next": "done",
            },
            "nodes.x.window.from: '25:00' is not a time of day like 09:00",
        ),
        ({"type": "exit", "next": "done"}, "nodes.x.next: not taken by a exit node"),
    ],
)
def test_node_fields_are_checked(node: dict[str, Any], expected: str) -> None:
    document = thank_you(start="x")
    document["nodes"]["x"] = node
    assert expected in _problems(document)


def test_the_ready_made_journeys_are_valid() -> None:
    folder = resources.files("recompra.automation") / "journeys"
    keys = sorted(
        parse_journey(yaml.safe_load(f.read_text(encoding="utf-8"))).key
        for f in folder.iterdir()
        if f.name.endswith(".yaml")
    )
    assert keys == ["points_expiring", "post_purchase_thanks", "review_request", "win_back"]


def test_malformed_values_are_problems_not_crashes() -> None:
    document = thank_you(start="x")
    document["nodes"]["x"] = {
        "type": "wait",
        "duration": "1d",
        "window": {"from": "09:00", "to": "10:00", "weekdays": [["mon"]]},
        "next": ["send"],
    }
    document["nodes"]["y"] = {"type": ["wait"]}
    problems = _problems(document)
    assert (
        "nodes.x.window.weekdays: a non-empty list of mon, tue, wed, thu, fri, sat, sun" in problems
    )
    assert "nodes.x.next: required: the name of the next node" in problems
    assert any(p.startswith("nodes.y.type: one of wait,") for p in problems)
