"""KPIs by period (month, quarter, year) and by RFM segment.

Definitions (money in minor units; ratios are ``None``/NaN when the denominator is 0)
--------------------------------------------------------------------------------------
By period ``P`` (UTC calendar month, quarter or year), purchases as in
:mod:`recompra.analytics.prepare`:

``active_customers``
    distinct customers with a purchase in ``P``.
``new_customers`` / ``returning_customers``
    active customers whose first purchase ever is in ``P`` / before ``P``.
``orders``, ``gross_revenue_minor``, ``revenue_minor``, ``refunds_minor``
    purchases in ``P``, their ``total_minor``, their net value and refunds.
``average_order_value_minor``
    ``gross_revenue_minor / orders`` (what was paid per order, before later refunds).
``purchase_frequency``
    ``orders / active_customers``.
``revenue_per_customer_minor``
    ``revenue_minor / active_customers``.
``returning_customer_rate``
    ``returning_customers / active_customers``.
``repurchase_rate``
    cumulative to the end of ``P``: customers with at least two purchases / customers
    with at least one.
``historic_clv_minor``
    cumulative to the end of ``P``: net revenue / customers acquired (historic CLV: the
    average net value a customer has brought so far).
``customers_active_at_start``, ``churned_customers``, ``churn_rate``, ``retention_rate``
    with the churn window ``N`` (default 180 days, ``churn_days``): a customer is active on
    a day when their last purchase was less than ``N`` days earlier. Of the customers
    active on the day before ``P`` starts, ``churned_customers`` reached ``N`` days without
    a purchase during ``P``; ``churn_rate = churned / active at start`` and
    ``retention_rate = 1 - churn_rate``. Customers acquired (or reactivated) inside ``P``
    are not in the base. Lapses count up to the as-of date only.
``return_rate``, ``refund_rate``
    purchases in ``P`` with at least one return/cancellation record / purchases;
    ``refunds_minor / gross_revenue_minor``.
``reviews``, ``average_review_score``, ``csat``, ``nps``
    reviews written in ``P`` (any order, up to as-of). CSAT = share of scores 4-5.
    NPS proxy from 1-5 scores: 5 = promoter, 4 = passive, 1-3 = detractor;
    ``nps = 100 * (promoters - detractors) / reviews`` (from -100 to 100).
``repeat_orders``, ``upsell_rate``, ``cross_sell_rate``
    purchases in ``P`` that are not the customer's first; the share of those containing a
    pricier item than any earlier purchase / a category new to the customer.

By segment (as of the as-of date, each customer in their current segment, plus a row
``all``): ``customers``, ``customer_share``, ``orders``, revenues, ``revenue_share``,
``average_order_value_minor``, ``purchase_frequency`` (orders per customer),
``historic_clv_minor`` (net revenue per customer), ``repurchase_rate`` (share with two or
more purchases), ``churn_rate`` (share with ``recency_days >= N``), ``retention_rate``,
``average_recency_days``, return, review, upsell and cross-sell figures as above (reviews
of the segment's customers).

Not computed here: CAC and lead/campaign conversion need marketing spend and lead data
that the commercial module will provide; :func:`acquisition_cost` and
:func:`conversion_rate` compute them when that input is given.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

from recompra.analytics.prepare import FACTS_VIEW, LAPSES_VIEW, RunParams
from recompra.analytics.rfm import SCORES_VIEW
from recompra.engines.base import Dialect

GRANULARITIES = ("month", "quarter", "year")


def _period(granularity: str, y: str, m: str, q: str) -> tuple[str, str]:
    """SQL for (period index, period start date) from year/month/quarter expressions."""
    if granularity == "month":
        return f"({y}) * 12 + ({m}) - 1", f"make_date({y}, {m}, 1)"
    if granularity == "quarter":
        return f"({y}) * 4 + ({q}) - 1", f"make_date({y}, 3 * ({q}) - 2, 1)"
    if granularity == "year":
        return f"({y})", f"make_date({y}, 1, 1)"
    raise ValueError(f"unknown granularity {granularity!r}; expected one of {GRANULARITIES}")


def _ratio(numerator: str, denominator: str) -> str:
    return f"CAST({numerator} AS DOUBLE) / NULLIF({denominator}, 0)"


def _review_sums(score: str = "score") -> str:
    return f"""CAST(COUNT(*) AS BIGINT) AS reviews,
        CAST(SUM({score}) AS BIGINT) AS review_score_sum,
        CAST(SUM(CASE WHEN {score} >= 4 THEN 1 ELSE 0 END) AS BIGINT) AS satisfied,
        CAST(SUM(CASE WHEN {score} = 5 THEN 1 ELSE 0 END) AS BIGINT) AS promoters,
        CAST(SUM(CASE WHEN {score} <= 3 THEN 1 ELSE 0 END) AS BIGINT) AS detractors"""


def _order_sums(active_customers: str | None = None) -> str:
    """Order sums over ``rc_facts``; with ``active_customers`` also that column.

    ``active_customers`` is the aggregate counting each group's distinct customers: the sum
    of a 0/1 column marking each customer's first purchase of a calendar period (no
    ``COUNT(DISTINCT)`` on the big tables), or ``COUNT(DISTINCT customer_id)`` for ranges.
    """
    active = (
        f"CAST({active_customers} AS BIGINT) AS active_customers,\n        "
        if active_customers
        else ""
    )
    return f"""CAST(COUNT(*) AS BIGINT) AS orders,
        {active}CAST(SUM(gross_minor) AS BIGINT) AS gross_revenue_minor,
        CAST(SUM(net_minor) AS BIGINT) AS revenue_minor,
        CAST(SUM(refund_minor) AS BIGINT) AS refunds_minor,
        CAST(SUM(has_return) AS BIGINT) AS returned_orders,
        CAST(SUM(CASE WHEN seq > 1 THEN 1 ELSE 0 END) AS BIGINT) AS repeat_orders,
        CAST(SUM(upsell) AS BIGINT) AS upsell_orders,
        CAST(SUM(cross_sell) AS BIGINT) AS cross_sell_orders"""


#: Columns of :func:`_order_sums` (but ``active_customers``) and of :func:`_review_sums`.
_ORDER_SUMS = (
    "orders",
    "gross_revenue_minor",
    "revenue_minor",
    "refunds_minor",
    "returned_orders",
    "repeat_orders",
    "upsell_orders",
    "cross_sell_orders",
)
_REVIEW_SUMS = ("reviews", "review_score_sum", "satisfied", "promoters", "detractors")


def _joined_sums() -> str:
    """The order sums of ``o`` and review sums of ``r``, 0 for a group without any."""
    return ",\n        ".join(
        [f"COALESCE(o.{c}, 0) AS {c}" for c in _ORDER_SUMS]
        + [f"COALESCE(r.{c}, 0) AS {c}" for c in _REVIEW_SUMS]
    )


def _shared_columns() -> str:
    """The counts and ratios both KPI tables end with, over :func:`_joined_sums` columns."""
    return f"""returned_orders, reviews, repeat_orders, upsell_orders, cross_sell_orders,
    {_ratio("gross_revenue_minor", "orders")} AS average_order_value_minor,
    {_ratio("returned_orders", "orders")} AS return_rate,
    {_ratio("refunds_minor", "gross_revenue_minor")} AS refund_rate,
    {_ratio("review_score_sum", "reviews")} AS average_review_score,
    {_ratio("satisfied", "reviews")} AS csat,
    100.0 * {_ratio("promoters - detractors", "reviews")} AS nps,
    {_ratio("upsell_orders", "repeat_orders")} AS upsell_rate,
    {_ratio("cross_sell_orders", "repeat_orders")} AS cross_sell_rate"""


@dataclass(frozen=True)
class _Periods:
    """How rows fall into periods: SQL for each source's period index and start.

    ``orders``, ``reviews`` and ``lapses`` are (index, start date) over ``rc_facts``,
    ``reviews`` and the lapses (``lapse_date``, ``lapse_day``); ``lapse_start_day`` is the
    day number of the lapse's period start; ``active_customers`` counts a group's distinct
    customers; ``keep`` filters the final rows.
    """

    orders: tuple[str, str]
    reviews: tuple[str, str]
    lapses: tuple[str, str]
    lapse_start_day: str
    active_customers: str
    keep: str = "TRUE"


def kpis_by_period_sql(d: Dialect, p: RunParams, granularity: str) -> str:
    """SQL for the KPI table of one granularity (``month``, ``quarter`` or ``year``)."""
    created = d.utc_timestamp("created_at")
    lapses = _period(granularity, "year(lapse_date)", "month(lapse_date)", "quarter(lapse_date)")
    periods = _Periods(
        orders=_period(granularity, "y", "m", "q"),
        reviews=_period(
            granularity, f"year({created})", f"month({created})", f"quarter({created})"
        ),
        lapses=lapses,
        lapse_start_day=d.day_number(lapses[1]),
        active_customers=f"SUM(first_in_{granularity})",
    )
    return _kpis_sql(d, p, periods)


def kpis_by_range_sql(d: Dialect, p: RunParams, bounds: Sequence[int]) -> str:
    """SQL for the KPIs of consecutive day ranges, with the same definitions as by period.

    ``bounds`` are increasing day numbers ``b0 < b1 < ... < bk``; range ``i`` (1-based, the
    ``period_index`` column) covers the days ``b(i-1)`` to ``b(i) - 1``, and
    ``period_start`` is its first day. Days before ``b0`` form period 0, which is not
    returned but feeds the cumulative columns (active customers at the start, customers
    and revenue to date) exactly as earlier months do by period.
    """
    if len(bounds) < 2 or any(b >= c for b, c in itertools.pairwise(bounds)):
        raise ValueError("bounds must be at least two increasing day numbers")

    def index(day_sql: str) -> str:
        whens = " ".join(f"WHEN {day_sql} < {b} THEN {i}" for i, b in enumerate(bounds))
        return f"CASE {whens} ELSE {len(bounds)} END"

    def start_day(day_sql: str) -> str:
        whens = " ".join(f"WHEN {day_sql} < {b} THEN {a}" for a, b in itertools.pairwise(bounds))
        return f"CASE WHEN {day_sql} < {bounds[0]} THEN 0 {whens} ELSE {bounds[-1]} END"

    def bucket(day_sql: str) -> tuple[str, str]:
        return index(day_sql), d.date_from_day(start_day(day_sql))

    review_day = d.day_number("created_at")
    return _kpis_sql(
        d,
        p,
        _Periods(
            orders=bucket("order_day"),
            reviews=bucket(review_day),
            lapses=bucket("lapse_day"),
            lapse_start_day=start_day("lapse_day"),
            active_customers="COUNT(DISTINCT customer_id)",
            keep=f"period_index BETWEEN 1 AND {len(bounds) - 1}",
        ),
    )


def _kpis_sql(d: Dialect, p: RunParams, periods: _Periods) -> str:
    """The KPI table over the periods described by ``periods``."""
    o_idx, o_start = periods.orders
    r_idx, r_start = periods.reviews
    l_idx, l_start = periods.lapses
    window = "ORDER BY period_index ROWS BETWEEN UNBOUNDED PRECEDING AND"
    return f"""
WITH ord AS (
    SELECT
        {o_idx} AS period_index,
        MIN({o_start}) AS period_start,
        {_order_sums(periods.active_customers)},
        CAST(SUM(CASE WHEN seq = 1 THEN 1 ELSE 0 END) AS BIGINT) AS new_customers,
        CAST(SUM(CASE WHEN seq = 2 THEN 1 ELSE 0 END) AS BIGINT) AS second_purchases,
        CAST(SUM(activation) AS BIGINT) AS activations
    FROM {FACTS_VIEW}
    GROUP BY {o_idx}
),
rev AS (
    SELECT
        {r_idx} AS period_index,
        MIN({r_start}) AS period_start,
        {_review_sums()}
    FROM reviews
    WHERE {d.day_number("created_at")} <= {p.as_of_day}
    GROUP BY {r_idx}
),
lapse_dates AS (
    SELECT {d.date_from_day("lapse_day")} AS lapse_date, lapse_day, run_start_day
    FROM {LAPSES_VIEW}
),
lap AS (
    SELECT
        {l_idx} AS period_index,
        MIN({l_start}) AS period_start,
        CAST(COUNT(*) AS BIGINT) AS lapses,
        CAST(SUM(CASE WHEN run_start_day < {periods.lapse_start_day} THEN 1 ELSE 0 END)
            AS BIGINT) AS churned_customers
    FROM lapse_dates
    GROUP BY {l_idx}
),
grid AS (
    SELECT period_index, period_start FROM ord
    UNION SELECT period_index, period_start FROM rev
    UNION SELECT period_index, period_start FROM lap
),
joined AS (
    SELECT
        g.period_index,
        g.period_start,
        COALESCE(o.active_customers, 0) AS active_customers,
        COALESCE(o.new_customers, 0) AS new_customers,
        COALESCE(o.second_purchases, 0) AS second_purchases,
        COALESCE(o.activations, 0) AS activations,
        {_joined_sums()},
        COALESCE(l.lapses, 0) AS lapses,
        COALESCE(l.churned_customers, 0) AS churned_customers
    FROM grid g
    LEFT JOIN ord o ON o.period_index = g.period_index
    LEFT JOIN rev r ON r.period_index = g.period_index
    LEFT JOIN lap l ON l.period_index = g.period_index
),
cumulative AS (
    SELECT
        j.*,
        CAST(COALESCE(SUM(activations - lapses) OVER ({window} 1 PRECEDING), 0) AS BIGINT)
            AS customers_active_at_start,
        CAST(SUM(new_customers) OVER ({window} CURRENT ROW) AS BIGINT) AS customers_to_date,
        CAST(SUM(second_purchases) OVER ({window} CURRENT ROW) AS BIGINT)
            AS repeat_customers_to_date,
        CAST(SUM(revenue_minor) OVER ({window} CURRENT ROW) AS BIGINT) AS revenue_to_date_minor
    FROM joined j
)
SELECT
    period_start,
    active_customers,
    new_customers,
    active_customers - new_customers AS returning_customers,
    orders,
    gross_revenue_minor,
    revenue_minor,
    refunds_minor,
    {_ratio("orders", "active_customers")} AS purchase_frequency,
    {_ratio("revenue_minor", "active_customers")} AS revenue_per_customer_minor,
    {_ratio("active_customers - new_customers", "active_customers")} AS returning_customer_rate,
    customers_to_date,
    repeat_customers_to_date,
    {_ratio("repeat_customers_to_date", "customers_to_date")} AS repurchase_rate,
    {_ratio("revenue_to_date_minor", "customers_to_date")} AS historic_clv_minor,
    customers_active_at_start,
    churned_customers,
    {_ratio("churned_customers", "customers_active_at_start")} AS churn_rate,
    1.0 - {_ratio("churned_customers", "customers_active_at_start")} AS retention_rate,
    {_shared_columns()}
FROM cumulative
WHERE {periods.keep}
ORDER BY period_start
"""


def kpis_by_segment_sql(d: Dialect, p: RunParams) -> str:
    """SQL for KPIs per current RFM segment, plus the row ``segment = 'all'``."""
    n = p.churn_days
    return f"""
WITH cust AS (
    SELECT
        COALESCE(segment, 'all') AS segment,
        CAST(COUNT(*) AS BIGINT) AS customers,
        CAST(SUM(CASE WHEN frequency >= 2 THEN 1 ELSE 0 END) AS BIGINT) AS repeat_customers,
        CAST(SUM(CASE WHEN recency_days >= {n} THEN 1 ELSE 0 END) AS BIGINT)
            AS churned_customers,
        CAST(SUM(recency_days) AS BIGINT) AS recency_days_sum
    FROM {SCORES_VIEW}
    GROUP BY GROUPING SETS ((segment), ())
),
ord AS (
    SELECT COALESCE(segment, 'all') AS segment, {_order_sums()}
    FROM (
        SELECT f.*, s.segment
        FROM {FACTS_VIEW} f
        JOIN {SCORES_VIEW} s ON s.customer_id = f.customer_id
    ) x
    GROUP BY GROUPING SETS ((segment), ())
),
rev AS (
    SELECT COALESCE(segment, 'all') AS segment, {_review_sums()}
    FROM (
        SELECT r.score, s.segment
        FROM reviews r
        JOIN {SCORES_VIEW} s ON s.customer_id = r.customer_id
        WHERE {d.day_number("r.created_at")} <= {p.as_of_day}
    ) x
    GROUP BY GROUPING SETS ((segment), ())
),
joined AS (
    SELECT
        c.segment,
        c.customers,
        c.repeat_customers,
        c.churned_customers,
        c.recency_days_sum,
        {_joined_sums()}
    FROM cust c
    LEFT JOIN ord o ON o.segment = c.segment
    LEFT JOIN rev r ON r.segment = c.segment
),
totals AS (
    SELECT customers AS all_customers, revenue_minor AS all_revenue_minor
    FROM joined WHERE segment = 'all'
)
SELECT
    j.segment,
    j.customers,
    {_ratio("j.customers", "t.all_customers")} AS customer_share,
    j.orders,
    j.gross_revenue_minor,
    j.revenue_minor,
    j.refunds_minor,
    {_ratio("j.revenue_minor", "t.all_revenue_minor")} AS revenue_share,
    {_ratio("j.orders", "j.customers")} AS purchase_frequency,
    {_ratio("j.revenue_minor", "j.customers")} AS historic_clv_minor,
    j.repeat_customers,
    {_ratio("j.repeat_customers", "j.customers")} AS repurchase_rate,
    j.churned_customers,
    {_ratio("j.churned_customers", "j.customers")} AS churn_rate,
    1.0 - {_ratio("j.churned_customers", "j.customers")} AS retention_rate,
    {_ratio("j.recency_days_sum", "j.customers")} AS average_recency_days,
    {_shared_columns()}
FROM joined j
CROSS JOIN totals t
ORDER BY j.segment
"""


def period_label(period_start: date, granularity: str) -> str:
    """Return a readable label: ``2018-03``, ``2018-Q1`` or ``2018``."""
    if granularity == "month":
        return f"{period_start.year:04d}-{period_start.month:02d}"
    if granularity == "quarter":
        return f"{period_start.year:04d}-Q{(period_start.month - 1) // 3 + 1}"
    return f"{period_start.year:04d}"


def acquisition_cost(
    kpis_by_period: pd.DataFrame, spend_minor: Mapping[date, int] | None
) -> pd.DataFrame | None:
    """Customer acquisition cost (CAC) per period from marketing spend.

    Parameters
    ----------
    kpis_by_period
        One granularity of :attr:`AnalyticsResult.kpis_by_period` (columns
        ``period_start`` and ``new_customers``).
    spend_minor
        Marketing and sales spend per period start, in minor units. Recompra does not
        record spend yet (it arrives with the commercial module), so callers pass it in.

    Returns
    -------
    pandas.DataFrame or None
        ``period_start, spend_minor, new_customers, cac_minor`` (``cac_minor`` =
        spend / new customers, NaN without new customers), or ``None`` when no spend is
        given: without spend there is no CAC, and none is invented.
    """
    if not spend_minor:
        return None
    frame = kpis_by_period[["period_start", "new_customers"]].copy()
    frame["spend_minor"] = frame["period_start"].map(lambda d: spend_minor.get(d, 0))
    new = frame["new_customers"].where(frame["new_customers"] > 0)
    frame["cac_minor"] = frame["spend_minor"] / new
    return frame[["period_start", "spend_minor", "new_customers", "cac_minor"]]


def conversion_rate(converted: int, total: int) -> float | None:
    """Lead or campaign conversion rate: ``converted / total`` (``None`` when ``total`` is 0).

    Leads, opportunities and campaign audiences are not in the analytics snapshot yet
    (they come with the commercial and automation modules); this is the single
    definition those modules should use.
    """
    if total <= 0:
        return None
    return converted / total
