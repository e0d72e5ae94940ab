"""Campaign response rate: the KPI's one definition, as SQL an engine runs.

The caller registers two views (the automation's outbox and the attribution live in the
operational database, not in the analytics snapshot):

``rc_campaign_deliveries``
    one row per delivered message (outbox ``state = sent``): ``journey``, ``node``,
    ``segment`` (the customer's current RFM segment), ``channel``.
``rc_campaign_responses``
    one row per response: ``journey``, ``node``, ``segment``, ``kind`` (``click``,
    ``open`` or ``order``) and ``revenue_minor`` (an order's value, 0 otherwise). Orders
    are the ones last-touch attribution credits to the message.

Definitions, per journey, per journey and node, and per journey and segment:

``response_rate``
    attributed orders / delivered messages.
``click_rate``
    clicks / delivered e-mails.

Both are ``NULL`` when nothing was delivered.
"""

from __future__ import annotations

from recompra.analytics.kpis import _ratio

DELIVERIES_VIEW = "rc_campaign_deliveries"
RESPONSES_VIEW = "rc_campaign_responses"
#: The groupings the KPI is reported by.
LEVELS: dict[str, tuple[str, ...]] = {
    "journey": ("journey",),
    "node": ("journey", "node"),
    "segment": ("journey", "segment"),
}
#: The KPI table's columns after the grouping keys.
COLUMNS = (
    "delivered",
    "delivered_email",
    "clicks",
    "opens",
    "attributed_orders",
    "attributed_revenue_minor",
    "response_rate",
    "click_rate",
)


def campaign_response_sql(level: str) -> str:
    """SQL for the campaign response KPI grouped by ``level`` (see :data:`LEVELS`)."""
    keys = LEVELS[level]
    columns = ", ".join(keys)
    joined = ", ".join(f"COALESCE(d.{k}, r.{k}) AS {k}" for k in keys)
    on = " AND ".join(f"d.{k} = r.{k}" for k in keys)
    return f"""
WITH d AS (
    SELECT {columns},
        CAST(COUNT(*) AS BIGINT) AS delivered,
        CAST(SUM(CASE WHEN channel = 'email' THEN 1 ELSE 0 END) AS BIGINT) AS delivered_email
    FROM {DELIVERIES_VIEW}
    GROUP BY {columns}
),
r AS (
    SELECT {columns},
        CAST(SUM(CASE WHEN kind = 'click' THEN 1 ELSE 0 END) AS BIGINT) AS clicks,
        CAST(SUM(CASE WHEN kind = 'open' THEN 1 ELSE 0 END) AS BIGINT) AS opens,
        CAST(SUM(CASE WHEN kind = 'order' THEN 1 ELSE 0 END) AS BIGINT) AS attributed_orders,
        CAST(SUM(revenue_minor) AS BIGINT) AS attributed_revenue_minor
    FROM {RESPONSES_VIEW}
    GROUP BY {columns}
),
joined AS (
    SELECT {joined},
        COALESCE(d.delivered, 0) AS delivered,
        COALESCE(d.delivered_email, 0) AS delivered_email,
        COALESCE(r.clicks, 0) AS clicks,
        COALESCE(r.opens, 0) AS opens,
        COALESCE(r.attributed_orders, 0) AS attributed_orders,
        COALESCE(r.attributed_revenue_minor, 0) AS attributed_revenue_minor
    FROM d FULL OUTER JOIN r ON {on}
)
SELECT {columns},
    delivered, delivered_email, clicks, opens, attributed_orders, attributed_revenue_minor,
    {_ratio("attributed_orders", "delivered")} AS response_rate,
    {_ratio("clicks", "delivered_email")} AS click_rate
FROM joined
ORDER BY {columns}
"""
