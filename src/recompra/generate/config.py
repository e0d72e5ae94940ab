"""Configuration of the synthetic store generator.

Every random choice of the generator is driven by :class:`GeneratorConfig`; the same
configuration (``seed`` included) always yields byte-identical tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

#: Seconds in one BG/NBD time unit.
TIME_UNIT_SECONDS: dict[str, int] = {"days": 86_400, "weeks": 7 * 86_400}

#: Default payment mix (probabilities of the order's main payment type).
DEFAULT_PAYMENT_MIX: tuple[tuple[str, float], ...] = (
    ("credit_card", 0.62),
    ("boleto", 0.17),
    ("pix", 0.16),
    ("debit_card", 0.05),
)

#: Default review score distribution for on-time, kept orders (scores 1..5, Olist-like).
DEFAULT_REVIEW_SCORES: tuple[float, ...] = (0.08, 0.03, 0.08, 0.20, 0.61)
#: Review scores of orders delivered late.
LATE_REVIEW_SCORES: tuple[float, ...] = (0.34, 0.10, 0.16, 0.16, 0.24)
#: Review scores of returned orders.
RETURNED_REVIEW_SCORES: tuple[float, ...] = (0.52, 0.16, 0.13, 0.09, 0.10)


def _utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


@dataclass(frozen=True)
class GeneratorConfig:
    """Parameters of a synthetic Brazilian online store.

    Parameters
    ----------
    seed
        Seed of every random stream; equal configurations give byte-identical output.
    n_customers
        Number of customers (each buys at least once, at acquisition).
    n_orders
        Approximate target number of orders; when set it overrides ``n_customers``, which
        is derived from the expected orders per customer under the BG/NBD parameters.
    start, end
        Observation period, timezone-aware (UTC). Customers are acquired uniformly in
        ``[start, end)``; ``end`` is the snapshot date (nothing happens at or after it).
    r, alpha, a, b
        True BG/NBD parameters. Repeat purchase rates ``lambda ~ Gamma(r, rate=alpha)``
        per ``time_unit``; dropout probabilities ``p ~ Beta(a, b)``. After acquisition
        (the first order, at time 0) a customer buys again as a Poisson process of rate
        ``lambda`` and becomes inactive right after each repeat purchase with
        probability ``p`` (Fader, Hardie & Lee 2005). Defaults are the published CDNOW
        estimates (weekly time unit).
    time_unit
        ``"weeks"`` (default) or ``"days"``: the unit of ``lambda`` and ``alpha``.
    spend_p, spend_q, spend_gamma
        Gamma-Gamma spend parameters in BRL: each customer's mean basket value is
        ``m = spend_p / nu`` with ``nu ~ Gamma(spend_q, rate=spend_gamma)``, so
        ``E[m] = spend_p * spend_gamma / (spend_q - 1)`` (150 BRL by default).
    basket_model
        Distribution of one order's basket (items) value around the customer mean ``m``:
        ``"lognormal"`` (default): ``m * exp(sigma Z - sigma^2 / 2)``;
        ``"gamma"``: ``Gamma(shape=spend_p, scale=m / spend_p)``, i.e. exactly the
        Gamma-Gamma model. Either way ``E[basket | customer] = m``.
    basket_sigma
        Log-standard deviation of the lognormal basket.
    n_products, n_categories
        Catalogue size; ``n_categories`` at most the number of built-in categories.
    zipf_exponent
        Popularity of the product of rank ``k`` inside its category is ``k ** -s``.
    items_per_order
        Probabilities of 1..5 distinct items (order lines) per order.
    loyal_share, favourite_bias
        Share of customers with a favourite category, and the probability that the first
        line of their orders comes from it.
    complement_prob, together_prob
        Probabilities that a further line is the bought-together partner of the first
        line's product, or otherwise a product of a complementary category.
    return_rate
        Probability that a delivered order is (fully or partly) returned.
    cancel_rate
        Extra canceled orders per purchase order. Canceled orders are *added* to the
        BG/NBD purchases, so non-canceled orders follow the true process exactly.
    review_rate
        Probability that a delivered order gets a review.
    review_scores
        Score distribution (1..5) for on-time kept orders; late and returned orders use
        lower built-in distributions.
    payment_mix
        ``(payment_type, probability)`` pairs: ``credit_card`` (1-12 installments,
        sometimes split across two cards), ``boleto``, ``pix``, ``debit_card``.
    brand_id
        Brand (store) id written in every table that has one.
    currency
        ISO currency of every order.
    """

    seed: int = 42
    n_customers: int = 10_000
    n_orders: int | None = None
    start: datetime = field(default_factory=lambda: _utc(2023, 1, 1))
    end: datetime = field(default_factory=lambda: _utc(2025, 1, 1))
    r: float = 0.243
    alpha: float = 4.414
    a: float = 0.793
    b: float = 2.426
    time_unit: Literal["days", "weeks"] = "weeks"
    spend_p: float = 6.0
    spend_q: float = 4.0
    spend_gamma: float = 75.0
    basket_model: Literal["lognormal", "gamma"] = "lognormal"
    basket_sigma: float = 0.6
    n_products: int = 2_000
    n_categories: int = 20
    zipf_exponent: float = 1.1
    items_per_order: tuple[float, ...] = (0.72, 0.16, 0.07, 0.03, 0.02)
    loyal_share: float = 0.35
    favourite_bias: float = 0.7
    complement_prob: float = 0.45
    together_prob: float = 0.35
    return_rate: float = 0.05
    cancel_rate: float = 0.02
    review_rate: float = 0.7
    review_scores: tuple[float, ...] = DEFAULT_REVIEW_SCORES
    payment_mix: tuple[tuple[str, float], ...] = DEFAULT_PAYMENT_MIX
    brand_id: int = 1
    currency: str = "BRL"

    def __post_init__(self) -> None:
        """Validate the parameters."""
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.n_customers < 0 or (self.n_orders is not None and self.n_orders < 0):
            raise ValueError("n_customers and n_orders must be non-negative")
        if min(self.r, self.alpha, self.a, self.b) <= 0:
            raise ValueError("BG/NBD parameters r, alpha, a, b must be positive")
        if self.time_unit not in TIME_UNIT_SECONDS:
            raise ValueError(f"time_unit must be one of {sorted(TIME_UNIT_SECONDS)}")
        if self.spend_p <= 0 or self.spend_q <= 1 or self.spend_gamma <= 0:
            raise ValueError("spend parameters need p > 0, q > 1, gamma > 0")
        if self.basket_model not in ("lognormal", "gamma"):
            raise ValueError("basket_model must be 'lognormal' or 'gamma'")
        if self.n_products < self.n_categories or self.n_categories < 1:
            raise ValueError("need 1 <= n_categories <= n_products")
        if len(self.items_per_order) != 5 or len(self.review_scores) != 5:
            raise ValueError("items_per_order and review_scores need 5 probabilities")
        for name in ("items_per_order", "review_scores"):
            probs = getattr(self, name)
            if any(x < 0 for x in probs) or abs(sum(probs) - 1.0) > 1e-9:
                raise ValueError(f"{name} must be probabilities summing to 1")
        mix = [w for _, w in self.payment_mix]
        if not mix or any(w < 0 for w in mix) or abs(sum(mix) - 1.0) > 1e-9:
            raise ValueError("payment_mix weights must sum to 1")
        known = {"credit_card", "boleto", "pix", "debit_card"}
        if not {t for t, _ in self.payment_mix} <= known:
            raise ValueError(f"payment types must be among {sorted(known)}")
        for name in (
            "loyal_share",
            "favourite_bias",
            "complement_prob",
            "together_prob",
            "return_rate",
            "cancel_rate",
            "review_rate",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")

    @property
    def unit_seconds(self) -> int:
        """Length of one BG/NBD time unit in seconds."""
        return TIME_UNIT_SECONDS[self.time_unit]

    @property
    def period_units(self) -> float:
        """Length of the observation period in BG/NBD time units."""
        return (self.end - self.start).total_seconds() / self.unit_seconds

    @property
    def mean_spend(self) -> float:
        """Population mean of the customers' mean basket value (BRL)."""
        return self.spend_p * self.spend_gamma / (self.spend_q - 1.0)

    def to_json(self) -> dict[str, Any]:
        """Return the configuration as JSON-ready values (for manifests)."""
        out = asdict(self)
        out["start"] = self.start.isoformat()
        out["end"] = self.end.isoformat()
        out["items_per_order"] = list(self.items_per_order)
        out["review_scores"] = list(self.review_scores)
        out["payment_mix"] = [[t, w] for t, w in self.payment_mix]
        return out
