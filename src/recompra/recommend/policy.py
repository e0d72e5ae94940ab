"""Segment- and CLV-aware offer policy for next-best-offer.

The recommender decides *what* to offer; the policy decides *how*: which incentive
may accompany the offer, how pricey the item may be, and whether restocking what the
customer already buys comes first. The rules (documented in ``docs/recommend.md``):

* **Champions and loyal customers** buy at full price already: never a discount-led offer
  (``incentive="none"`` or loyalty points), no price ceiling, upsell allowed.
* **At-risk / can't-lose / hibernating / lost**: win-back. Restock what they bought
  before comes first; a discount is allowed; the price is capped near what they usually
  pay (an expensive novelty is a poor win-back offer).
* **New customers / promising**: second-purchase nudge with free shipping, moderate
  price ceiling.
* **CLV overrides the segment** in two ways: a customer in the top CLV quantile never
  gets a discount (the margin matters more than the nudge) and has no price ceiling; a
  customer in the bottom quantile gets the tighter ceiling.

Unknown segments (or no segment table) get :data:`DEFAULT_POLICY`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from recompra.analytics import SegmentKey

Incentive = Literal["none", "loyalty_points", "free_shipping", "discount"]


@dataclass(frozen=True)
class OfferPolicy:
    """How offers to one customer are shaped.

    Attributes
    ----------
    incentive
        What may accompany the offer.
    price_ceiling
        Maximum item price as a multiple of the customer's median paid item price
        (``None``: no limit). Applies at product level only.
    repurchase_first
        Rank restock offers (repeat-purchase items already bought) above the others.
    allow_upsell
        Whether upsell offers may be attached to this customer's suggestions.
    """

    incentive: Incentive = "none"
    price_ceiling: float | None = 2.0
    repurchase_first: bool = False
    allow_upsell: bool = True


DEFAULT_POLICY = OfferPolicy(incentive="none", price_ceiling=2.0)

#: Keyed by :class:`SegmentKey` members (each a ``str``, so the segment string stored with
#: the scores finds its policy): a key that analytics never emits cannot be written here.
SEGMENT_POLICIES: Mapping[str, OfferPolicy] = {
    SegmentKey.CHAMPIONS: OfferPolicy(incentive="none", price_ceiling=None, allow_upsell=True),
    SegmentKey.LOYAL: OfferPolicy(
        incentive="loyalty_points", price_ceiling=None, allow_upsell=True
    ),
    SegmentKey.POTENTIAL_LOYALISTS: OfferPolicy(incentive="loyalty_points", price_ceiling=2.0),
    SegmentKey.NEW_CUSTOMERS: OfferPolicy(incentive="free_shipping", price_ceiling=1.5),
    SegmentKey.PROMISING: OfferPolicy(incentive="free_shipping", price_ceiling=1.5),
    SegmentKey.NEED_ATTENTION: OfferPolicy(incentive="free_shipping", price_ceiling=1.5),
    SegmentKey.ABOUT_TO_SLEEP: OfferPolicy(incentive="discount", price_ceiling=1.5),
    SegmentKey.AT_RISK: OfferPolicy(
        incentive="discount", price_ceiling=1.2, repurchase_first=True, allow_upsell=False
    ),
    SegmentKey.CANT_LOSE_THEM: OfferPolicy(
        incentive="loyalty_points", price_ceiling=None, repurchase_first=True, allow_upsell=True
    ),
    SegmentKey.HIBERNATING: OfferPolicy(
        incentive="discount", price_ceiling=1.2, repurchase_first=True, allow_upsell=False
    ),
    SegmentKey.LOST: OfferPolicy(
        incentive="discount", price_ceiling=1.0, repurchase_first=True, allow_upsell=False
    ),
}

#: CLV quantiles above / below which the CLV overrides apply.
HIGH_CLV_QUANTILE = 0.8
LOW_CLV_QUANTILE = 0.2
LOW_CLV_CEILING = 1.2


def policy_for(
    segment: str | None,
    clv_quantile: float | None = None,
    policies: Mapping[str, OfferPolicy] | None = None,
) -> OfferPolicy:
    """Return the offer policy of a customer.

    Parameters
    ----------
    segment
        RFM segment key (a :class:`SegmentKey` or its stored string), or ``None``.
    clv_quantile
        The customer's CLV rank among customers in ``[0, 1]``, or ``None``.
    policies
        Segment policies (default :data:`SEGMENT_POLICIES`).

    Returns
    -------
    OfferPolicy
        The segment's policy with the CLV overrides applied.

    Examples
    --------
    >>> policy_for("champions").incentive
    'none'
    >>> policy_for("at_risk", clv_quantile=0.95).incentive
    'loyalty_points'
    """
    table = SEGMENT_POLICIES if policies is None else policies
    policy = table.get(segment or "", DEFAULT_POLICY)
    if clv_quantile is None:
        return policy
    if clv_quantile >= HIGH_CLV_QUANTILE:
        incentive: Incentive = (
            "loyalty_points" if policy.incentive == "discount" else policy.incentive
        )
        return replace(policy, incentive=incentive, price_ceiling=None, allow_upsell=True)
    if clv_quantile <= LOW_CLV_QUANTILE:
        ceiling = policy.price_ceiling
        tighter = LOW_CLV_CEILING if ceiling is None else min(ceiling, LOW_CLV_CEILING)
        return replace(policy, price_ceiling=tighter)
    return policy
