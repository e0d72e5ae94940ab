"""NPS and CSAT estimators against independent computations written here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recompra.errors import InvalidInput
from recompra.voc.scores import (
    MARGINS,
    NpsCounts,
    StarMapping,
    counts_from_ratings,
    counts_from_stars,
    csat_estimate,
    nps_change,
    nps_estimate,
    responses_for_margin,
)

Z95 = 1.959963984540054  # the 97.5% standard normal quantile (any statistical table)


def _estimate(counts: NpsCounts):  # type: ignore[no-untyped-def]
    return nps_estimate(counts, proxy=False, mapping={})


def test_nps_interval_is_the_variance_of_the_plus_one_zero_minus_one_score() -> None:
    counts = NpsCounts(promoters=120, passives=50, detractors=30)
    # Each answer as +1 / 0 / −1: NPS is 100 × the mean, its variance that of the mean.
    answers = np.array([1] * 120 + [0] * 50 + [-1] * 30, dtype=float)
    half = Z95 * 100 * math.sqrt(answers.var() / len(answers))
    result = _estimate(counts)
    assert result.score == pytest.approx(100 * answers.mean())
    assert result.score == pytest.approx(45.0)
    assert result.ci_low == pytest.approx(45.0 - half)
    assert result.ci_high == pytest.approx(45.0 + half)
    assert result.n == 200


def test_empty_group_has_no_score_and_the_worst_case_sample_sizes() -> None:
    result = _estimate(NpsCounts())
    assert result.score is None
    assert result.ci_low is None
    assert result.n == 0
    # Worst case variance 1: n = z² / m².
    assert result.responses_needed[5] == math.ceil(Z95**2 / 0.05**2) == 1537


@pytest.mark.parametrize("margin", MARGINS)
def test_responses_for_a_margin_reach_it_and_one_fewer_does_not(margin: int) -> None:
    counts = NpsCounts(promoters=55, passives=25, detractors=20)
    needed = responses_for_margin(counts, margin)
    p_p, p_d = 0.55, 0.20
    unit = p_p + p_d - (p_p - p_d) ** 2

    def half_width(n: int) -> float:
        return Z95 * 100 * math.sqrt(unit / n)

    assert half_width(needed) <= margin < half_width(needed - 1)


def test_star_mapping_default_and_stored_variants() -> None:
    assert StarMapping().as_dict() == {"promoter": [5], "passive": [4], "detractor": [1, 2, 3]}
    assert counts_from_stars([5, 5, 4, 3, 1], StarMapping()) == NpsCounts(2, 1, 2)
    assert counts_from_stars([5, 5, 4, 3, 1], StarMapping(4, 2)) == NpsCounts(3, 1, 1)
    with pytest.raises(InvalidInput):
        StarMapping(3, 3)
    with pytest.raises(InvalidInput):
        StarMapping(6, 3)


def test_survey_answers_use_the_standard_question_bands() -> None:
    assert counts_from_ratings([10, 9, 8, 7, 6, 0]) == NpsCounts(2, 2, 2)
    with pytest.raises(InvalidInput):
        counts_from_ratings([11])


def test_change_is_flagged_only_when_significant_and_large_enough() -> None:
    before = _estimate(NpsCounts(400, 300, 300))
    after = _estimate(NpsCounts(500, 300, 200))
    change = nps_change(before, after)
    assert change is not None
    z = 0.2 / math.sqrt((0.7 - 0.01) / 1000 + (0.7 - 0.09) / 1000)
    assert change.difference == pytest.approx(20.0)
    assert change.z == pytest.approx(z)
    assert change.significant
    small = nps_change(_estimate(NpsCounts(4, 3, 3)), _estimate(NpsCounts(10, 0, 0)))
    assert small is not None
    assert not small.significant
    close = nps_change(before, _estimate(NpsCounts(410, 300, 290)))
    assert close is not None
    assert not close.significant
    assert close.p_value is not None
    assert close.p_value > 0.05


def test_csat_uses_the_wilson_interval() -> None:
    satisfied, n = 77, 100
    p = satisfied / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2))
    result = csat_estimate(satisfied, n)
    assert result.share == pytest.approx(0.77)
    assert result.ci_low == pytest.approx(centre - half)
    assert result.ci_high == pytest.approx(centre + half)
    assert csat_estimate(0, 0).share is None
