"""Segment map, transitions and the CAC/conversion definitions."""

from __future__ import annotations

import itertools
import math
from datetime import date

import pandas as pd
import pytest

from recompra.analytics import (
    SEGMENTS,
    acquisition_cost,
    conversion_rate,
    segment_of,
    transition_matrix,
    transitions,
)


@pytest.mark.parametrize(
    ("scores", "segment"),
    [
        ((5, 5, 5), "champions"),
        ((4, 4, 4), "champions"),
        ((4, 4, 3), "loyal"),
        ((3, 5, 5), "loyal"),
        ((5, 2, 1), "potential_loyalists"),
        ((5, 1, 4), "promising"),
        ((4, 1, 3), "new_customers"),
        ((3, 2, 5), "need_attention"),
        ((3, 1, 5), "about_to_sleep"),
        ((2, 4, 4), "cant_lose_them"),
        ((1, 5, 5), "cant_lose_them"),
        ((2, 5, 3), "at_risk"),
        ((1, 2, 1), "at_risk"),
        ((2, 1, 5), "hibernating"),
        ((1, 1, 5), "lost"),
    ],
)
def test_segment_rules(scores: tuple[int, int, int], segment: str) -> None:
    assert segment_of(*scores) == segment


def test_every_score_triple_has_a_segment_and_all_segments_are_reachable() -> None:
    reached = {segment_of(r, f, m) for r, f, m in itertools.product(range(1, 6), repeat=3)}
    assert reached == {s.key for s in SEGMENTS}
    assert len(SEGMENTS) == 11
    assert all(s.name_pt and s.name_en for s in SEGMENTS)


def test_transitions_between_two_score_tables() -> None:
    before = pd.DataFrame(
        {"customer_id": [1, 2, 3, 4], "segment": ["new_customers"] * 2 + ["loyal", "lost"]}
    )
    after = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "segment": ["potential_loyalists", "about_to_sleep", "loyal", "lost", "new_customers"],
        }
    )
    long = transitions(before, after)
    pairs = {(r["from_segment"], r["to_segment"]): r["customers"] for r in long.to_dict("records")}
    assert pairs == {
        ("new_customers", "potential_loyalists"): 1,
        ("new_customers", "about_to_sleep"): 1,
        ("loyal", "loyal"): 1,
        ("lost", "lost"): 1,
        ("none", "new_customers"): 1,
    }
    matrix = transition_matrix(before, after)
    assert matrix.shape == (12, 12)
    assert matrix.loc["new_customers", "about_to_sleep"] == 1
    assert matrix.loc["none", "new_customers"] == 1
    assert int(matrix.to_numpy().sum()) == 5


def test_cac_needs_spend_and_divides_by_new_customers() -> None:
    kpis = pd.DataFrame(
        {"period_start": [date(2024, 1, 1), date(2024, 2, 1)], "new_customers": [4, 0]}
    )
    assert acquisition_cost(kpis, None) is None
    cac = acquisition_cost(kpis, {date(2024, 1, 1): 10_000, date(2024, 2, 1): 500})
    assert cac is not None
    assert cac.cac_minor.iloc[0] == 2_500.0
    assert math.isnan(cac.cac_minor.iloc[1])
    assert conversion_rate(3, 12) == 0.25
    assert conversion_rate(0, 0) is None
