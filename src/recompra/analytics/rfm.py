"""RFM ("RFV" in Portuguese): recency, frequency, monetary scores and the segment map.

Per customer with at least one purchase up to the as-of date (see
:mod:`recompra.analytics.prepare` for what a purchase and its net value are):

* ``recency_days``: as-of day minus the UTC day of the last purchase (0 = bought that day);
* ``frequency``: number of purchases;
* ``monetary_minor``: sum of the purchases' net values (minor units, refunds deducted).

Scores (1 = worst, 5 = best)
----------------------------
**R and M are rank quintiles with ties kept together.** Customers are ranked from best to
worst (most recent first; highest net value first) with SQL ``RANK()``, so tied customers
share the best rank of their group. With ``n`` customers and rank ``k`` the score is
``5 - floor(5 * (k - 1) / n)``: the best fifth of the ranks gets 5, the next fifth 4, and
so on. Equal values therefore always receive equal scores and the result does not depend
on customer ids or on row order, which makes it deterministic on every engine; the price
is that a large tie (many customers who bought on the same day) can make one score
larger than a fifth and a later one smaller.

**F uses fixed thresholds, not quintiles**: 1 purchase -> 1, 2 -> 2, 3 -> 3, 4-5 -> 4,
6 or more -> 5 (:data:`DEFAULT_F_THRESHOLDS`). Purchase counts are small integers and very
skewed (on Olist 97% of customers bought once); quintiles of such a distribution would
split identical one-time buyers over scores 1-4 arbitrarily, or, with ties kept, give
everyone the same score. Fixed thresholds keep the meaning of F stable over time and
across stores ("F = 2 means exactly two purchases").

Segments (first matching rule wins; every score triple matches exactly one)
---------------------------------------------------------------------------
====  ====================  =======================  ==============================
 #    key                   rule                     meaning
====  ====================  =======================  ==============================
 1    champions             R>=4, F>=4, M>=4         bought recently, often, spend most
 2    loyal                 R>=3, F>=3               buy regularly, not lapsed
 3    potential_loyalists   R>=4, F=2                recent second purchase
 4    promising             R>=4, F=1, M>=4          recent first purchase of high value
 5    new_customers         R>=4, F=1                recent first purchase
 6    need_attention        R=3, F=2                 repeat buyers cooling down
 7    about_to_sleep        R=3, F=1                 one purchase, below-median recency
 8    cant_lose_them        R<=2, F>=4, M>=4         former best customers, gone quiet
 9    at_risk               R<=2, F>=2               repeat buyers, long time ago
 10   hibernating           R=2, F=1                 one purchase, long ago
 11   lost                  R=1, F=1                 one purchase, longest ago
====  ====================  =======================  ==============================

One-time buyers (F = 1) fall into *new customers*, *promising*, *about to sleep*,
*hibernating* and *lost* by recency (and value, for *promising*), so the segment map stays
informative when almost everyone bought once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from recompra.analytics.prepare import ORDERS_VIEW, RunParams

#: Lower bounds of F scores 2, 3, 4 and 5 (purchases): 1 -> 1, 2 -> 2, 3 -> 3, 4-5 -> 4, 6+ -> 5.
DEFAULT_F_THRESHOLDS: tuple[int, int, int, int] = (2, 3, 4, 6)

SCORES_VIEW = "rc_scores"


class SegmentKey(StrEnum):
    """The stable key of each RFM segment: what the analytics emit and everyone else reads.

    Values are stored in ``customer_scores.segment`` and the output tables, so they never
    change; code compares against members, never against retyped strings.
    """

    CHAMPIONS = "champions"
    LOYAL = "loyal"
    POTENTIAL_LOYALISTS = "potential_loyalists"
    PROMISING = "promising"
    NEW_CUSTOMERS = "new_customers"
    NEED_ATTENTION = "need_attention"
    ABOUT_TO_SLEEP = "about_to_sleep"
    CANT_LOSE_THEM = "cant_lose_them"
    AT_RISK = "at_risk"
    HIBERNATING = "hibernating"
    LOST = "lost"


@dataclass(frozen=True)
class Segment:
    """One RFM segment: a stable key, display names and its score rule (inclusive ranges)."""

    key: SegmentKey
    name_en: str
    name_pt: str
    r: tuple[int, int]
    f: tuple[int, int]
    m: tuple[int, int]
    description_en: str
    description_pt: str

    def matches(self, r: int, f: int, m: int) -> bool:
        """Return whether scores ``(r, f, m)`` satisfy this segment's rule."""
        return (
            self.r[0] <= r <= self.r[1]
            and self.f[0] <= f <= self.f[1]
            and self.m[0] <= m <= self.m[1]
        )


#: The segment map, in rule order (first match wins).
SEGMENTS: tuple[Segment, ...] = (
    Segment(
        SegmentKey.CHAMPIONS, "Champions", "Campeões", (4, 5), (4, 5), (4, 5),
        "Bought recently, buy often and spend the most.",
        "Compraram recentemente, compram com frequência e gastam mais.",
    ),
    Segment(
        SegmentKey.LOYAL, "Loyal", "Fiéis", (3, 5), (3, 5), (1, 5),
        "Buy regularly and have not lapsed.",
        "Compram regularmente e continuam ativos.",
    ),
    Segment(
        SegmentKey.POTENTIAL_LOYALISTS, "Potential Loyalists", "Potenciais fiéis",
        (4, 5), (2, 2), (1, 5),
        "Recent customers with a second purchase.",
        "Clientes recentes que já fizeram a segunda compra.",
    ),
    Segment(
        SegmentKey.PROMISING, "Promising", "Promissores", (4, 5), (1, 1), (4, 5),
        "Recent first purchase of high value.",
        "Primeira compra recente e de alto valor.",
    ),
    Segment(
        SegmentKey.NEW_CUSTOMERS, "New Customers", "Novos clientes", (4, 5), (1, 1), (1, 5),
        "Made their first purchase recently.",
        "Fizeram a primeira compra recentemente.",
    ),
    Segment(
        SegmentKey.NEED_ATTENTION, "Need Attention", "Precisam de atenção", (3, 3), (2, 2), (1, 5),
        "Repeat buyers whose recency is cooling down.",
        "Recompraram, mas estão esfriando.",
    ),
    Segment(
        SegmentKey.ABOUT_TO_SLEEP, "About to Sleep", "Quase dormindo", (3, 3), (1, 1), (1, 5),
        "One purchase, recency below the median.",
        "Uma compra, recência abaixo da mediana.",
    ),
    Segment(
        SegmentKey.CANT_LOSE_THEM, "Can't Lose Them", "Não podemos perdê-los",
        (1, 2), (4, 5), (4, 5),
        "Former best customers who have gone quiet.",
        "Antigos melhores clientes que sumiram.",
    ),
    Segment(
        SegmentKey.AT_RISK, "At Risk", "Em risco", (1, 2), (2, 5), (1, 5),
        "Repeat buyers who last bought a long time ago.",
        "Recompraram, mas a última compra foi há muito tempo.",
    ),
    Segment(
        SegmentKey.HIBERNATING, "Hibernating", "Hibernando", (2, 2), (1, 1), (1, 5),
        "One purchase, a long time ago.",
        "Uma compra, há muito tempo.",
    ),
    Segment(
        SegmentKey.LOST, "Lost", "Perdidos", (1, 1), (1, 1), (1, 5),
        "One purchase, longest ago of all.",
        "Uma compra, a mais antiga de todas.",
    ),
)  # fmt: skip

SEGMENT_KEYS: tuple[SegmentKey, ...] = tuple(s.key for s in SEGMENTS)
SEGMENTS_BY_KEY: dict[SegmentKey, Segment] = {s.key: s for s in SEGMENTS}


def segment_of(r: int, f: int, m: int) -> SegmentKey:
    """Return the key of the first segment whose rule matches scores ``(r, f, m)``."""
    for segment in SEGMENTS:
        if segment.matches(r, f, m):
            return segment.key
    raise ValueError(f"no segment for scores {(r, f, m)}")  # unreachable: the map is total


def _range_sql(column: str, bounds: tuple[int, int]) -> str:
    low, high = bounds
    if (low, high) == (1, 5):
        return ""
    if low == high:
        return f"{column} = {low}"
    return f"{column} BETWEEN {low} AND {high}"


def segment_case_sql(r: str = "r_score", f: str = "f_score", m: str = "m_score") -> str:
    """SQL ``CASE`` expression implementing :data:`SEGMENTS` over score columns."""
    branches = []
    for segment in SEGMENTS:
        parts = [
            p
            for p in (
                _range_sql(r, segment.r),
                _range_sql(f, segment.f),
                _range_sql(m, segment.m),
            )
            if p
        ]
        branches.append(f"WHEN {' AND '.join(parts) or 'TRUE'} THEN '{segment.key}'")
    return "CASE " + " ".join(branches) + " END"


def _cutoffs_sql(prefix: str, column: str) -> str:
    """CTEs ``{prefix}_values`` and ``{prefix}_cutoffs``: the lowest value of each rank score.

    ``RANK() OVER (ORDER BY column DESC)`` over every customer is one single-threaded sort
    of the whole customer table. The rank of a value is 1 + the number of customers with a
    larger value, so it is computed on the (much smaller) table of distinct values with a
    running count, and since the score ``5 - floor(5 * (rank - 1) / n)`` never increases
    as the value decreases, each score 5..2 is reached exactly from its lowest value
    ``{prefix}{k}`` upwards (``NULL`` when no value reaches it). The scores equal those of
    the per-customer ``RANK()``.
    """
    cutoffs = ",\n        ".join(
        f"MIN(CASE WHEN 5 * ({prefix}_rank - 1) < {5 - k + 1} * n THEN value END) AS {prefix}{k}"
        for k in (5, 4, 3, 2)
    )
    return f"""{prefix}_values AS (
    SELECT {column} AS value, COUNT(*) AS customers
    FROM per_customer
    GROUP BY {column}
),
{prefix}_ranked AS (
    SELECT
        value,
        SUM(customers) OVER (ORDER BY value DESC
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - customers + 1 AS {prefix}_rank,
        SUM(customers) OVER () AS n
    FROM {prefix}_values
),
{prefix}_cutoffs AS (
    SELECT
        {cutoffs}
    FROM {prefix}_ranked
)"""


def _cutoff_score_sql(column: str, prefix: str) -> str:
    """Score 5..1 of ``column`` from the cutoffs of :func:`_cutoffs_sql`."""
    return (
        f"CASE WHEN {column} >= {prefix}5 THEN 5 WHEN {column} >= {prefix}4 THEN 4 "
        f"WHEN {column} >= {prefix}3 THEN 3 WHEN {column} >= {prefix}2 THEN 2 ELSE 1 END"
    )


def _threshold_score_sql(column: str, thresholds: tuple[int, int, int, int]) -> str:
    t2, t3, t4, t5 = thresholds
    return (
        f"CASE WHEN {column} >= {t5} THEN 5 WHEN {column} >= {t4} THEN 4 "
        f"WHEN {column} >= {t3} THEN 3 WHEN {column} >= {t2} THEN 2 ELSE 1 END"
    )


def rfm_sql(
    params: RunParams, f_thresholds: tuple[int, int, int, int] = DEFAULT_F_THRESHOLDS
) -> str:
    """SQL for the per-customer RFM table with scores and segment key.

    Columns: ``customer_id, recency_days, frequency, monetary_minor, gross_minor,
    first_day, last_day, r_score, f_score, m_score, segment``.
    """
    if list(f_thresholds) != sorted(set(f_thresholds)) or f_thresholds[0] < 2:
        raise ValueError("f_thresholds must be strictly increasing and start at 2 or more")
    return f"""
WITH per_customer AS (
    SELECT
        customer_id,
        CAST(COUNT(*) AS BIGINT) AS frequency,
        CAST(SUM(net_minor) AS BIGINT) AS monetary_minor,
        CAST(SUM(gross_minor) AS BIGINT) AS gross_minor,
        MIN(order_day) AS first_day,
        MAX(order_day) AS last_day
    FROM {ORDERS_VIEW}
    GROUP BY customer_id
),
{_cutoffs_sql("r", "last_day")},
{_cutoffs_sql("m", "monetary_minor")},
scored AS (
    SELECT
        c.customer_id,
        CAST({params.as_of_day} - c.last_day AS INT) AS recency_days,
        c.frequency,
        c.monetary_minor,
        c.gross_minor,
        c.first_day,
        c.last_day,
        {_cutoff_score_sql("c.last_day", "r")} AS r_score,
        {_threshold_score_sql("c.frequency", f_thresholds)} AS f_score,
        {_cutoff_score_sql("c.monetary_minor", "m")} AS m_score
    FROM per_customer c
    CROSS JOIN r_cutoffs
    CROSS JOIN m_cutoffs
)
SELECT scored.*, {segment_case_sql()} AS segment
FROM scored
"""
