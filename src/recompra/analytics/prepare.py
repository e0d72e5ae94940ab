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
SEQ_VIEW = "rc_seq"
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


def last_purchase_day_sql(d: Dialect) -> str:
    """SQL returning the UTC day number of the last purchase in the snapshot."""
    return (
        f"SELECT MAX({d.day_number('purchased_at')}) AS last_day FROM orders "
        f"WHERE status NOT IN ({NON_PURCHASE_SQL})"
    )


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
    """SQL for ``rc_facts``: ``rc_orders`` plus sequence, activity runs, upsell, cross-sell.

    An order is an **upsell** when it is a repeat purchase (``seq > 1``) containing an item
    whose unit price is higher than every unit price in the customer's earlier purchases;
    a **cross-sell** when it is a repeat purchase containing a category the customer had
    not bought before. Items without a category never count as a new category.
    """
    n = p.churn_days
    return f"""
WITH seq AS (
    SELECT * FROM {SEQ_VIEW}
),
items AS (
    SELECT order_id,
           MAX(unit_price_minor) AS max_unit_price_minor,
           CAST(SUM(quantity) AS BIGINT) AS items
    FROM order_items
    GROUP BY order_id
),
first_category AS (
    SELECT s.customer_id, i.category_id, MIN(s.seq) AS first_seq
    FROM order_items i
    JOIN seq s ON s.order_id = i.order_id
    WHERE i.category_id IS NOT NULL
    GROUP BY s.customer_id, i.category_id
),
new_category AS (
    SELECT DISTINCT customer_id, first_seq AS seq FROM first_category
),
joined AS (
    SELECT
        s.*,
        COALESCE(it.items, 0) AS items,
        it.max_unit_price_minor,
        CASE WHEN nc.customer_id IS NULL THEN 0 ELSE 1 END AS adds_category,
        CASE WHEN s.prev_day IS NULL OR s.order_day - s.prev_day > {n} THEN 1 ELSE 0 END
            AS activation,
        CASE WHEN s.next_day IS NULL OR s.next_day - s.order_day > {n} THEN 1 ELSE 0 END
            AS lapse
    FROM seq s
    LEFT JOIN items it ON it.order_id = s.order_id
    LEFT JOIN new_category nc ON nc.customer_id = s.customer_id AND nc.seq = s.seq
)
SELECT
    j.*,
    CASE WHEN j.seq > 1 AND j.max_unit_price_minor > MAX(j.max_unit_price_minor) OVER (
            PARTITION BY j.customer_id ORDER BY j.seq
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
         THEN 1 ELSE 0 END AS upsell,
    CASE WHEN j.seq > 1 AND j.adds_category = 1 THEN 1 ELSE 0 END AS cross_sell,
    MAX(CASE WHEN j.activation = 1 THEN j.order_day END) OVER (
        PARTITION BY j.customer_id ORDER BY j.seq
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run_start_day
FROM joined j
"""


def seq_sql() -> str:
    """SQL for ``rc_seq``: ``rc_orders`` plus ``seq``, previous and next purchase day.

    Materialised on its own because :func:`facts_sql` reads it twice and Spark inlines
    common table expressions (the window would be computed twice).
    """
    return f"""
SELECT
    o.*,
    ROW_NUMBER() OVER w AS seq,
    LAG(order_day) OVER w AS prev_day,
    LEAD(order_day) OVER w AS next_day
FROM {ORDERS_VIEW} o
WINDOW w AS (PARTITION BY customer_id ORDER BY purchased_at, order_id)
"""


def lapses_sql(p: RunParams) -> str:
    """SQL for ``rc_lapses``: one row per lapse (N days without a purchase) up to as-of."""
    n = p.churn_days
    return f"""
SELECT customer_id, order_day + {n} AS lapse_day, run_start_day
FROM {FACTS_VIEW}
WHERE lapse = 1 AND order_day + {n} <= {p.as_of_day}
"""


def resolve_as_of(engine: Engine, as_of: date | None) -> int:
    """Return the as-of day number: ``as_of`` or the day of the last purchase."""
    if as_of is not None:
        return day_of(as_of)
    table = engine.query(last_purchase_day_sql(engine.dialect))
    value = table.column(0)[0].as_py()
    if value is None:
        raise ValueError("the snapshot has no purchases; pass as_of explicitly")
    return int(value)


def prepare(engine: Engine, params: RunParams, *, facts: bool = True) -> None:
    """Materialise ``rc_orders`` (and, with ``facts``, ``rc_facts`` and ``rc_lapses``)."""
    engine.materialize(ORDERS_VIEW, orders_sql(engine.dialect, params))
    if facts:
        engine.materialize(SEQ_VIEW, seq_sql())
        engine.materialize(FACTS_VIEW, facts_sql(params))
        engine.materialize(LAPSES_VIEW, lapses_sql(params))
