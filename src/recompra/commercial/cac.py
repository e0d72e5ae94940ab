"""Customer acquisition cost: blended, paid and per channel, for B2C and B2B.

For each audience, only months with spend count (the CAC window):

* new customers: B2C customers whose first order falls in the window (the channel of
  that order is their acquisition channel); B2B won deals closed in the window (the
  lead's channel);
* blended CAC = all spend / all new customers; paid CAC = spend on paid channels / new
  customers acquired through them; channel CAC = channel spend / its new customers;
* payback months = blended CAC / monthly gross margin of a new customer (B2C: revenue of
  its first 365 days / 12; B2B: the declared monthly revenue) × the gross-margin rate;
* LTV:CAC = mean predicted CLV (``customer_scores.clv_minor``) of the new customers /
  blended CAC.

A value that cannot be computed is ``None`` with a sentence in ``missing`` saying why:
never a zero that reads like a free customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.models import CustomerScore, MarketingSpend, Opportunity, Order
from recompra.models.base import Base

#: Why a figure is missing: code -> explanation (the dashboard translates the codes).
MISSING = {
    "no_spend": "no marketing spend recorded for this audience",
    "no_new_customers": "no new customers in the months with spend",
    "no_channel": "new customers carry no acquisition channel: paid CAC unknown",
    "no_margin_rate": "gross-margin rate not given: payback unknown",
    "no_revenue": "no revenue known for the new customers: payback unknown",
    "no_clv": "no predicted CLV for the new customers (run recompra predict)",
}
#: Days of revenue that define a new B2C customer's monthly margin (one year / 12).
REVENUE_DAYS = 365


@dataclass(frozen=True)
class ChannelCac:
    """Spend, new customers and CAC (minor units) of one channel."""

    channel: str
    paid: bool
    spend_minor: int
    new_customers: int
    cac_minor: int | None


@dataclass
class AudienceCac:
    """The CAC figures of one audience, with what is missing to compute the others."""

    audience: str
    spend_minor: int = 0
    new_customers: int = 0
    blended_minor: int | None = None
    paid_minor: int | None = None
    payback_months: float | None = None
    ltv_to_cac: float | None = None
    channels: list[ChannelCac] = field(default_factory=list)
    #: Codes of :data:`MISSING`.
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NewCustomers:
    """New customers of an audience: month acquired, channel, monthly revenue, CLV."""

    frame: pd.DataFrame  # columns: month (Timestamp), channel, monthly_revenue_minor, clv_minor


def _ratio(numerator: float, denominator: float) -> int | None:
    return round(numerator / denominator) if denominator > 0 else None


def audience_cac(
    audience: str, spend: pd.DataFrame, new: NewCustomers, gross_margin: float | None
) -> AudienceCac:
    """CAC of one audience from its spend rows and its new customers (see module doc)."""
    result = AudienceCac(audience)
    spend = spend[spend["audience"] == audience]
    if spend.empty:
        result.missing.append("no_spend")
        return result
    window = set(spend["month"])
    customers = new.frame[new.frame["month"].isin(window)]
    result.spend_minor = int(spend["amount_minor"].sum())
    result.new_customers = len(customers)
    result.blended_minor = _ratio(result.spend_minor, len(customers))
    if result.blended_minor is None:
        result.missing.append("no_new_customers")
    paid_channels = set(spend.loc[spend["paid"], "channel"])
    by_channel = customers["channel"].fillna("unknown").value_counts()
    for channel, rows in spend.groupby("channel"):
        amount = int(rows["amount_minor"].sum())
        count = int(by_channel.get(channel, 0))
        result.channels.append(
            ChannelCac(str(channel), channel in paid_channels, amount, count, _ratio(amount, count))
        )
    if customers["channel"].isna().all():
        result.missing.append("no_channel")
    else:
        paid_spend = int(spend.loc[spend["paid"], "amount_minor"].sum())
        result.paid_minor = _ratio(paid_spend, int(customers["channel"].isin(paid_channels).sum()))
    margin = customers["monthly_revenue_minor"].dropna()
    if gross_margin is None:
        result.missing.append("no_margin_rate")
    elif margin.empty or margin.mean() <= 0:
        result.missing.append("no_revenue")
    elif result.blended_minor is not None:
        result.payback_months = result.blended_minor / (float(margin.mean()) * gross_margin)
    clv = customers["clv_minor"].dropna()
    if clv.empty:
        result.missing.append("no_clv")
    elif result.blended_minor:
        result.ltv_to_cac = float(clv.mean()) / result.blended_minor
    return result


def spend_frame(session: Session, *, brand_id: int) -> pd.DataFrame:
    """The brand's spend rows (month as a Timestamp of the first day)."""
    rows = session.execute(
        select(
            MarketingSpend.audience,
            MarketingSpend.channel,
            MarketingSpend.month,
            MarketingSpend.amount_minor,
            MarketingSpend.paid,
        ).where(MarketingSpend.brand_id == brand_id)
    ).all()
    frame = pd.DataFrame(rows, columns=["audience", "channel", "month", "amount_minor", "paid"])
    frame["month"] = pd.to_datetime(frame["month"])
    return frame


def _latest_clv(brand_id: int) -> Base | object:
    latest = (
        select(CustomerScore.customer_id, func.max(CustomerScore.as_of).label("as_of"))
        .where(CustomerScore.brand_id == brand_id)
        .group_by(CustomerScore.customer_id)
        .subquery()
    )
    return (
        select(CustomerScore.customer_id, CustomerScore.clv_minor)
        .join(
            latest,
            (latest.c.customer_id == CustomerScore.customer_id)
            & (latest.c.as_of == CustomerScore.as_of),
        )
        .where(CustomerScore.brand_id == brand_id)
        .subquery()
    )


def b2c_new_customers(session: Session, *, brand_id: int) -> NewCustomers:
    """Each B2C customer's first order: its month, channel, first-year revenue and CLV."""
    orders = pd.DataFrame(
        session.execute(
            select(Order.customer_id, Order.purchased_at, Order.channel, Order.total_minor).where(
                Order.brand_id == brand_id
            )
        ).all(),
        columns=["customer_id", "purchased_at", "channel", "total_minor"],
    )
    clv = pd.DataFrame(
        session.execute(select(_latest_clv(brand_id))).all(),  # type: ignore[call-overload]
        columns=["customer_id", "clv_minor"],
    )
    if orders.empty:
        empty = pd.DataFrame(columns=["month", "channel", "monthly_revenue_minor", "clv_minor"])
        return NewCustomers(empty)
    orders["purchased_at"] = pd.to_datetime(orders["purchased_at"], utc=True)
    orders = orders.sort_values(["customer_id", "purchased_at"])
    first = orders.groupby("customer_id").first()
    start = orders["customer_id"].map(first["purchased_at"])
    in_year = orders["purchased_at"] < start + pd.Timedelta(days=REVENUE_DAYS)
    revenue = orders[in_year].groupby("customer_id")["total_minor"].sum()
    frame = pd.DataFrame(
        {
            "month": first["purchased_at"].dt.tz_localize(None).dt.to_period("M").dt.to_timestamp(),
            "channel": first["channel"],
            "monthly_revenue_minor": revenue.reindex(first.index) / 12,
            "clv_minor": clv.set_index("customer_id")["clv_minor"].reindex(first.index),
        }
    )
    return NewCustomers(frame.reset_index(drop=True))


def b2b_new_customers(session: Session, *, brand_id: int, funnel: pd.DataFrame) -> NewCustomers:
    """Won deals: month won, the lead's channel and the declared monthly revenue."""
    won = funnel.loc[funnel["won"]]
    declared = pd.DataFrame(
        session.execute(
            select(Opportunity.lead_id, Opportunity.attributes).where(
                Opportunity.brand_id == brand_id, Opportunity.status == "won"
            )
        ).all(),
        columns=["lead_id", "attributes"],
    )
    revenue = declared.set_index("lead_id")["attributes"].map(
        lambda a: (a or {}).get("declared_monthly_revenue_minor") or None
    )
    frame = pd.DataFrame(
        {
            "month": won["closed_on"].dt.to_period("M").dt.to_timestamp(),
            "channel": won["channel"],
            "monthly_revenue_minor": won["lead_id"].map(revenue).astype(float),
            "clv_minor": float("nan"),
        }
    )
    return NewCustomers(frame.reset_index(drop=True))
