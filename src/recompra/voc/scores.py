"""NPS and CSAT with their 95% confidence intervals, from counts.

One estimator serves both sources: survey answers (0-10, the standard NPS question) and
review stars (1-5, a *proxy* whose star -> category mapping is a stored setting). Both are
reduced to counts of promoters, passives and detractors first.

* NPS = 100 · (p_P − p_D), with p_P, p_D the shares of promoters and detractors.
* Its variance under the multinomial model: Var = (p_P + p_D − (p_P − p_D)²) / n, so the
  Wald interval is NPS ± z · 100 · √Var (clipped to [−100, 100]).
* Responses for a margin of ±m points: n = ⌈z² · (p_P + p_D − (p_P − p_D)²) / (m/100)²⌉,
  with the observed shares (the worst case, variance 1, when nothing is observed yet).
* A change between two independent periods is tested with the two-sample z-test
  z = (NPS₂ − NPS₁) / √(Var₁ + Var₂) (Rocks 2016, "Interval Estimation for the 'Net
  Promoter Score'", The American Statistician 70(4)); it is flagged only when the
  two-sided p-value is below α = 0.05 and both periods have at least 30 responses.
* CSAT = share of 4-5 stars, with the Wilson score interval
  (``statsmodels.stats.proportion.proportion_confint(method="wilson")``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from recompra.errors import InvalidInput

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
#: Margins (± NPS points) whose required number of responses is shown beside each score.
MARGINS = (3, 5, 10)
#: CSAT counts 4 and 5 stars as satisfied (the usual "top-two-box" on a 1-5 scale).
CSAT_MIN_STARS = 4
#: The normal approximation behind the change test needs enough responses on both sides:
#: with fewer in either period a change is reported but never flagged.
MIN_TEST_RESPONSES = 30
#: The standard NPS question (0-10): 9-10 promoter, 7-8 passive, 0-6 detractor.
SURVEY_PROMOTER_MIN = 9
SURVEY_DETRACTOR_MAX = 6


@dataclass(frozen=True)
class StarMapping:
    """How review stars (1-5) stand for NPS categories: the proxy's stored setting.

    Stars ``>= promoter_min`` are promoters, ``<= detractor_max`` detractors, the rest
    passives.
    """

    promoter_min: int = 5
    detractor_max: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.detractor_max < self.promoter_min <= 5:
            raise InvalidInput(
                "the star mapping needs 1 <= detractor stars < promoter stars <= 5",
                field="promoter_min",
            )

    def category(self, stars: int) -> str:
        """``promoter``, ``passive`` or ``detractor`` for a 1-5 star review."""
        if stars >= self.promoter_min:
            return "promoter"
        return "detractor" if stars <= self.detractor_max else "passive"

    def as_dict(self) -> dict[str, list[int]]:
        """The stars of each category, e.g. ``{"promoter": [5], "passive": [4], ...}``."""
        stars = range(1, 6)
        return {
            kind: [s for s in stars if self.category(s) == kind]
            for kind in ("promoter", "passive", "detractor")
        }


#: The survey question's own mapping, in the same shape as :meth:`StarMapping.as_dict`.
SURVEY_MAPPING: dict[str, list[int]] = {
    "promoter": list(range(SURVEY_PROMOTER_MIN, 11)),
    "passive": list(range(SURVEY_DETRACTOR_MAX + 1, SURVEY_PROMOTER_MIN)),
    "detractor": list(range(SURVEY_DETRACTOR_MAX + 1)),
}


@dataclass(frozen=True)
class NpsCounts:
    """Promoters, passives and detractors of one group of responses."""

    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    @property
    def n(self) -> int:
        """All responses."""
        return self.promoters + self.passives + self.detractors

    def __add__(self, other: NpsCounts) -> NpsCounts:
        return NpsCounts(
            self.promoters + other.promoters,
            self.passives + other.passives,
            self.detractors + other.detractors,
        )


def counts_from_stars(stars: Iterable[int], mapping: StarMapping) -> NpsCounts:
    """Categorise review stars (1-5) with the proxy mapping."""
    kinds = [mapping.category(int(s)) for s in stars]
    return NpsCounts(kinds.count("promoter"), kinds.count("passive"), kinds.count("detractor"))


def counts_from_ratings(ratings: Iterable[int]) -> NpsCounts:
    """Categorise survey answers to the 0-10 NPS question."""
    values = [int(r) for r in ratings]
    if any(not 0 <= r <= 10 for r in values):
        raise InvalidInput("an NPS answer is a whole number from 0 to 10", field="score")
    return NpsCounts(
        sum(r >= SURVEY_PROMOTER_MIN for r in values),
        sum(SURVEY_DETRACTOR_MAX < r < SURVEY_PROMOTER_MIN for r in values),
        sum(r <= SURVEY_DETRACTOR_MAX for r in values),
    )


def _z(confidence: float = CONFIDENCE) -> float:
    # scipy and statsmodels are imported where used: the API server imports this module
    # for its constants and must start without them (issue 20).
    from scipy.stats import norm

    return float(norm.ppf(1 - (1 - confidence) / 2))


def _unit_variance(counts: NpsCounts) -> float:
    """p_P + p_D − (p_P − p_D)²: the variance of one response's +1/0/−1 score."""
    if counts.n == 0:
        return 1.0
    p_p, p_d = counts.promoters / counts.n, counts.detractors / counts.n
    return p_p + p_d - (p_p - p_d) ** 2


def responses_for_margin(counts: NpsCounts, margin_points: float) -> int:
    """Responses needed for a 95% interval of ± ``margin_points`` NPS points."""
    margin = margin_points / 100
    return max(1, math.ceil(_z() ** 2 * _unit_variance(counts) / margin**2))


@dataclass(frozen=True)
class NpsEstimate:
    """An NPS with its 95% interval; ``proxy`` when it comes from review stars."""

    score: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    counts: NpsCounts
    proxy: bool
    mapping: dict[str, list[int]]
    responses_needed: dict[int, int] = field(default_factory=dict)

    @property
    def variance(self) -> float | None:
        """The variance of the score on the −1..1 scale (multinomial)."""
        return None if self.n == 0 else _unit_variance(self.counts) / self.n

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {
            "score": self.score,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
            "promoters": self.counts.promoters,
            "passives": self.counts.passives,
            "detractors": self.counts.detractors,
            "proxy": self.proxy,
            "mapping": self.mapping,
            "responses_needed": {f"±{m}": v for m, v in self.responses_needed.items()},
        }


def nps_estimate(counts: NpsCounts, *, proxy: bool, mapping: dict[str, list[int]]) -> NpsEstimate:
    """NPS from category counts, with its 95% Wald interval (multinomial variance)."""
    needed = {m: responses_for_margin(counts, m) for m in MARGINS}
    if counts.n == 0:
        return NpsEstimate(None, None, None, 0, counts, proxy, mapping, needed)
    score = 100 * (counts.promoters - counts.detractors) / counts.n
    half = _z() * 100 * math.sqrt(_unit_variance(counts) / counts.n)
    return NpsEstimate(
        score,
        max(-100.0, score - half),
        min(100.0, score + half),
        counts.n,
        counts,
        proxy,
        mapping,
        needed,
    )


@dataclass(frozen=True)
class NpsChange:
    """The difference between two periods' NPS and whether it is significant."""

    difference: float
    z: float | None
    p_value: float | None
    significant: bool

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return asdict(self)


def nps_change(
    before: NpsEstimate, after: NpsEstimate, *, alpha: float = ALPHA
) -> NpsChange | None:
    """Two-sample z-test of ``after.score − before.score`` (independent samples)."""
    if before.score is None or after.score is None:
        return None
    difference = after.score - before.score
    spread = math.sqrt(
        _unit_variance(before.counts) / before.n + _unit_variance(after.counts) / after.n
    )
    if spread == 0:
        # Both periods unanimous: the Wald variance is zero and the test undefined, so no
        # change is claimed (such groups are tiny in practice).
        return NpsChange(difference, None, None, False)
    z = (difference / 100) / spread
    from scipy.stats import norm  # lazy, see _z

    p_value = float(2 * norm.sf(abs(z)))
    enough = min(before.n, after.n) >= MIN_TEST_RESPONSES
    return NpsChange(difference, z, p_value, enough and p_value < alpha)


@dataclass(frozen=True)
class CsatEstimate:
    """Share of satisfied (4-5 star) responses with its Wilson 95% interval."""

    share: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    satisfied: int

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return asdict(self)


def csat_estimate(satisfied: int, n: int) -> CsatEstimate:
    """CSAT from the number of satisfied responses out of ``n``."""
    if n == 0:
        return CsatEstimate(None, None, None, 0, 0)
    from statsmodels.stats.proportion import proportion_confint  # lazy, see _z

    low, high = proportion_confint(satisfied, n, alpha=ALPHA, method="wilson")
    return CsatEstimate(satisfied / n, float(low), float(high), n, satisfied)
