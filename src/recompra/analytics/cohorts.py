"""Monthly acquisition cohorts: retention and revenue by months since the first purchase.

A customer's **cohort** is the UTC calendar month of their first purchase;
``months_since_first`` of a purchase is its calendar month minus the cohort month (0 = the
acquisition month). For each cohort and offset the table holds:

* ``customers``: distinct customers of the cohort who purchased in that month;
* ``retention_rate``: ``customers / cohort_size`` (1.0 at offset 0);
* ``orders`` and ``revenue_minor`` (net of refunds) of those purchases;
* ``revenue_per_customer_minor``: ``revenue_minor / cohort_size``;
* ``cumulative_revenue_per_customer_minor``: running sum of the above over the offsets.

Only offsets in which somebody of the cohort bought appear (a missing offset means 0).
"""

from __future__ import annotations

from recompra.analytics.prepare import ORDERS_VIEW


def cohorts_sql() -> str:
    """SQL for the cohort table, sorted by cohort month and offset."""
    return f"""
WITH customer_months AS (
    -- one row per customer and month with a purchase: counting rows later counts distinct
    -- customers without a COUNT(DISTINCT) over every order
    SELECT
        customer_id,
        y * 12 + m - 1 AS month_index,
        CAST(COUNT(*) AS BIGINT) AS orders,
        CAST(SUM(net_minor) AS BIGINT) AS revenue_minor
    FROM {ORDERS_VIEW}
    GROUP BY customer_id, y * 12 + m - 1
),
activity AS (
    SELECT
        month_index,
        MIN(month_index) OVER (PARTITION BY customer_id) AS cohort_index,
        orders,
        revenue_minor
    FROM customer_months
),
cells AS (
    SELECT
        cohort_index,
        month_index - cohort_index AS months_since_first,
        CAST(COUNT(*) AS BIGINT) AS customers,
        CAST(SUM(orders) AS BIGINT) AS orders,
        CAST(SUM(revenue_minor) AS BIGINT) AS revenue_minor
    FROM activity
    GROUP BY cohort_index, month_index - cohort_index
),
sized AS (
    SELECT
        c.*,
        MAX(CASE WHEN months_since_first = 0 THEN customers END)
            OVER (PARTITION BY cohort_index) AS cohort_size
    FROM cells c
)
SELECT
    make_date(
        CAST(FLOOR(cohort_index / 12) AS INT),
        CAST(cohort_index - 12 * FLOOR(cohort_index / 12) + 1 AS INT),
        1
    ) AS cohort_month,
    CAST(months_since_first AS INT) AS months_since_first,
    cohort_size,
    customers,
    CAST(customers AS DOUBLE) / cohort_size AS retention_rate,
    orders,
    revenue_minor,
    CAST(revenue_minor AS DOUBLE) / cohort_size AS revenue_per_customer_minor,
    CAST(SUM(revenue_minor) OVER (
        PARTITION BY cohort_index ORDER BY months_since_first
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS DOUBLE) / cohort_size
        AS cumulative_revenue_per_customer_minor
FROM sized
ORDER BY cohort_month, months_since_first
"""
