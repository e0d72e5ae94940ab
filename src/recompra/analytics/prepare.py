"""Shared per-order facts every metric starts from, materialised once per run.

Definitions that hold for every metric (documented in ``docs/analytics.md``):

* a **purchase** is an order whose status is not in
  :data:`~recompra.snapshot.schema.NON_PURCHASE_STATUSES` and whose UTC purchase day is on
  or before the as-of day;
* an order's **net value** is ``total_minor`` (items + freight - discount, what the customer
  paid; recomputed from those three columns when ``total_minor`` is null) minus the
  refunds recorded for it in ``returns`` up to the as-of day, floored at 0;
* a customer's purchases are ordered by ``(purchased_at, order_id)``; ``seq`` is the
  1-based position, so ``seq = 1`` is the first purchase;
* with a churn window of ``N`` days a customer is **active** on day ``t`` when their last
  purchase on or before ``t`` was less than ``N`` days earlier. A purchase after a gap of
  more than ``N`` days (or the first purchase) is an **activation**; a purchase not followed
  by another within ``N`` days is a **lapse** on day ``purchase day + N`` (counted only when
  that day is on or before the as-of day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from recompra.engines.base import Dialect, Engine
from recompra.snapshot.schema import NON_PURCHASE_STATUSES

EPOCH = date(1970, 1, 1)
NON_PURCHASE_SQL = ", ".join(f"'{status}'" for status in NON_PURCHASE_STATUSES)

#: Names of the views :func:`prepare` creates.
ORDERS_VIEW = "rc_orders"
FACTS_VIEW = "rc_facts"
LAPSES_VIEW = "rc_lapses"


def day_of(value: date) -> int:
    """Return ``value`` as days since 1970-01-01."""
    return (value - EPOCH).days


def date_of(day: int) -> date:
    """Return the date ``day`` days after 1970-01-01."""
    return EPOCH + timedelta(days=int(day))


@dataclass(frozen=True)
class RunParams:
    """Parameters shared by every query of one analytics run.

    Attributes
    ----------
    as_of_day
        The as-of date as days since 1970-01-01 (inclusive).
    churn_days
        ``N``: a customer with no purchase in ``N`` days is churned (lapsed).
    """

    as_of_day: int
    churn_days: int = 180

    @property
    def as_of(self) -> date:
        """The as-of date."""
        return date_of(self.as_of_day)


def orders_sql(d: Dialect, p: RunParams) -> str:
    """SQL for ``rc_orders``: one row per purchase up to the as-of day, with net value."""
    return f"""
WITH paid AS (
    SELECT
        o.*,
        COALESCE(
            o.total_minor,
            o.items_total_minor + COALESCE(o.freight_total_minor, 0)
                - COALESCE(o.discount_total_minor, 0),
            0
        ) AS paid_minor
    FROM orders o
),
refunds AS (
    SELECT order_id, SUM(amount_minor) AS refund_minor
    FROM returns
    WHERE {d.day_number("created_at")} <= {p.as_of_day}
    GROUP BY order_id
)
SELECT
    o.order_id,
    o.customer_id,
    o.purchased_at,
    CAST({d.day_number("o.purchased_at")} AS INT) AS order_day,
    CAST(year({d.utc_timestamp("o.purchased_at")}) AS INT) AS y,
    CAST(month({d.utc_timestamp("o.purchased_at")}) AS INT) AS m,
    CAST(quarter({d.utc_timestamp("o.purchased_at")}) AS INT) AS q,
    CAST(o.paid_minor AS BIGINT) AS gross_minor,
    CAST(COALESCE(r.refund_minor, 0) AS BIGINT) AS refund_minor,
    CAST(GREATEST(o.paid_minor - COALESCE(r.refund_minor, 0), 0) AS BIGINT) AS net_minor,
    CASE WHEN r.order_id IS NULL THEN 0 ELSE 1 END AS has_return
FROM paid o
LEFT JOIN refunds r ON r.order_id = o.order_id
WHERE o.status NOT IN ({NON_PURCHASE_SQL})
  AND {d.day_number("o.purchased_at")} <= {p.as_of_day}
"""


def facts_sql(p: RunParams) -> str:
    """SQL for ``rc_facts``: ``rc_orders`` plus sequence, activity flags, upsell, cross-sell.

    One window pass per customer (ordered by ``purchased_at, order_id``) over only the
    columns the KPIs need gives ``seq``, ``activation``, ``lapse``, ``upsell`` and whether
    the purchase is the customer's first of its month, quarter and year (so the KPIs count
    active customers per period with a sum instead of a ``COUNT(DISTINCT)``).

    An order is an **upsell** when it is a repeat purchase (``seq > 1``) containing an item
    whose unit price is higher than every unit price in the customer's earlier purchases;
    a **cross-sell** when it is a repeat purchase containing a category the customer had
    not bought before (the first item row of each customer and category, by purchase
    order, marks its order). Items without a category never count as a new category.
    """
    n = p.churn_days
    w = "PARTITION BY o.customer_id ORDER BY o.purchased_at, o.order_id"
    # Month index y * 12 + m - 1; its quarter index is floor(/3) and its year floor(/12).
    return f"""
WITH item_rows AS (
    SELECT
        i.order_id,
        i.unit_price_minor,
        i.quantity,
        CASE WHEN i.category_id IS NOT NULL AND ROW_NUMBER() OVER (
                PARTITION BY o.customer_id, i.category_id
                ORDER BY o.purchased_at, o.order_id) = 1
             THEN 1 ELSE 0 END AS first_of_category
    FROM order_items i
    JOIN {ORDERS_VIEW} o ON o.order_id = i.order_id
),
items AS (
    SELECT order_id,
           MAX(unit_price_minor) AS max_unit_price_minor,
           CAST(SUM(quantity) AS BIGINT) AS items,
           MAX(first_of_category) AS adds_category
    FROM item_rows
    GROUP BY order_id
),
windowed AS (
    SELECT
        o.order_id,
        o.customer_id,
        o.order_day,
        o.y,
        o.m,
        o.q,
        o.gross_minor,
        o.refund_minor,
        o.net_minor,
        o.has_return,
        COALESCE(it.items, 0) AS items,
        it.max_unit_price_minor,
        COALESCE(it.adds_category, 0) AS adds_category,
        ROW_NUMBER() OVER ({w}) AS seq,
        LAG(o.order_day) OVER ({w}) AS prev_day,
        LEAD(o.order_day) OVER ({w}) AS next_day,
        LAG(o.y * 12 + o.m - 1) OVER ({w}) AS prev_month_index,
        MAX(it.max_unit_price_minor) OVER (
            {w} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_max_unit_price_minor
    FROM {ORDERS_VIEW} o
    LEFT JOIN items it ON it.order_id = o.order_id
)
SELECT
    order_id,
    customer_id,
    order_day,
    y,
    m,
    q,
    gross_minor,
    refund_minor,
    net_minor,
    has_return,
    items,
    seq,
    CASE WHEN prev_day IS NULL OR order_day - prev_day > {n} THEN 1 ELSE 0 END AS activation,
    CASE WHEN next_day IS NULL OR next_day - order_day > {n} THEN 1 ELSE 0 END AS lapse,
    CASE WHEN max_unit_price_minor > earlier_max_unit_price_minor THEN 1 ELSE 0 END AS upsell,
    CASE WHEN seq > 1 AND adds_category = 1 THEN 1 ELSE 0 END AS cross_sell,
    CASE WHEN prev_month_index = y * 12 + m - 1 THEN 0 ELSE 1 END AS first_in_month,
    CASE WHEN CAST(FLOOR(prev_month_index / 3) AS INT) = y * 4 + q - 1 THEN 0 ELSE 1 END
        AS first_in_quarter,
    CASE WHEN CAST(FLOOR(prev_month_index / 12) AS INT) = y THEN 0 ELSE 1 END AS first_in_year
FROM windowed
"""


def lapses_sql(p: RunParams) -> str:
    """SQL for ``rc_lapses``: one row per lapse (N days without a purchase) up to as-of.

    ``run_start_day`` is the day of the activation that started the lapsed run of
    activity. Between an activation and the lapse ending its run there is no other
    activation or lapse, so on the rows that are either, the run of a lapse that is not
    itself an activation starts at the previous such row.
    """
    n = p.churn_days
    return f"""
SELECT customer_id, lapse_day, run_start_day
FROM (
    SELECT
        customer_id,
        lapse,
        order_day + {n} AS lapse_day,
        CASE WHEN activation = 1 THEN order_day
             ELSE LAG(order_day) OVER (PARTITION BY customer_id ORDER BY seq) END
            AS run_start_day
    FROM {FACTS_VIEW}
    WHERE activation = 1 OR lapse = 1
) x
WHERE lapse = 1 AND lapse_day <= {p.as_of_day}
"""


def prepare(engine: Engine, params: RunParams, *, facts: bool = True) -> None:
    """Materialise ``rc_orders`` (and, with ``facts``, ``rc_facts`` and ``rc_lapses``)."""
    engine.materialize(ORDERS_VIEW, orders_sql(engine.dialect, params))
    if facts:
        engine.materialize(FACTS_VIEW, facts_sql(params))
        engine.materialize(LAPSES_VIEW, lapses_sql(params))
