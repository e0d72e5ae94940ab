"""Explanations of recommendations in words, in Brazilian Portuguese and English.

Every suggestion carries its evidence as numbers (an :class:`Evidence`); the sentences are
rendered from them on demand, so the stored tables stay language-neutral and a new
language is one more template set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Language = Literal["pt-BR", "en"]
LANGUAGES: tuple[Language, ...] = ("pt-BR", "en")

#: Why an item was suggested. The keys are stable (stored in the precomputed tables).
REASONS = (
    "bought_together",  # same-order co-purchase with the anchor item
    "bought_later",  # bought by the same customers across orders
    "category_affinity",  # popular in a category the customer buys from
    "repurchase",  # the customer bought it before and this store re-buys it
    "upsell",  # better or pricier item of the same category
    "popular",  # best seller (cold start)
)


@dataclass(frozen=True)
class Evidence:
    """The numbers behind one suggestion.

    Attributes
    ----------
    reason
        One of :data:`REASONS`.
    count
        Orders (``bought_together``), customers (``bought_later``, ``popular``,
        ``category_affinity``) or times bought (``repurchase``).
    lift
        How many times more often than by chance (co-purchase reasons).
    anchor, anchor_en
        Name of the item the suggestion is derived from (e.g. a product in the history or
        a category), in Portuguese and (when different) in English.
    share
        Share of the customer's purchases in the category (``category_affinity``).
    price_ratio, rating, n_reviews
        Upsell evidence: price relative to the anchor, average review score and how
        many reviews.
    """

    reason: str
    count: int = 0
    lift: float = 0.0
    anchor: str = ""
    share: float = 0.0
    price_ratio: float = 0.0
    rating: float = 0.0
    n_reviews: int = 0
    anchor_en: str = ""


def format_number(value: float, language: Language, decimals: int = 1) -> str:
    """Format a number with the language's decimal and thousands separators.

    Examples
    --------
    >>> format_number(1234.5, "pt-BR")
    '1.234,5'
    >>> format_number(1234.5, "en")
    '1,234.5'
    """
    text = f"{value:,.{decimals}f}"
    if language == "pt-BR":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def format_money(minor: int, language: Language, currency: str = "BRL") -> str:
    """Format an amount in minor units (``12990`` -> ``R$ 129,90`` / ``R$129.90``)."""
    symbol = "R$" if currency == "BRL" else currency
    amount = format_number(minor / 100.0, language, decimals=2)
    return f"{symbol} {amount}" if language == "pt-BR" else f"{symbol}{amount}"


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def explain(evidence: Evidence, language: Language = "en") -> str:
    """Render one suggestion's evidence as a sentence.

    Parameters
    ----------
    evidence
        The numbers behind the suggestion.
    language
        ``"pt-BR"`` or ``"en"``.

    Returns
    -------
    str
        E.g. ``"bought together in 312 orders, 4.1x more often than by chance"``.

    Examples
    --------
    >>> explain(Evidence("bought_together", count=312, lift=4.1), "pt-BR")
    'comprados juntos em 312 pedidos, 4,1x mais do que o acaso'
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
    pt = language == "pt-BR"
    n = evidence.count
    count = format_number(n, language, decimals=0)
    lift = format_number(evidence.lift, language)
    anchor = evidence.anchor if pt else (evidence.anchor_en or evidence.anchor)
    reason = evidence.reason
    if reason == "bought_together":
        chance = f"{lift}x mais do que o acaso" if pt else f"{lift}x more often than by chance"
        if pt:
            text = f"comprados juntos em {count} {_plural(n, 'pedido', 'pedidos')}, {chance}"
        else:
            text = f"bought together in {count} {_plural(n, 'order', 'orders')}, {chance}"
        if anchor:
            text += f" (com {anchor})" if pt else f" (with {anchor})"
        return text
    if reason == "bought_later":
        if pt:
            who = f"{count} {_plural(n, 'cliente', 'clientes')}"
            verb = _plural(n, "comprou", "compraram")
            text = f"{who} que {verb} {anchor or 'o mesmo item'} também {verb} este"
            return text + f", {lift}x mais do que o acaso"
        who = f"{count} {_plural(n, 'customer', 'customers')}"
        text = f"{who} who bought {anchor or 'the same item'} also bought this"
        return text + f", {lift}x more often than by chance"
    if reason == "category_affinity":
        share = format_number(100.0 * evidence.share, language, decimals=0)
        if evidence.share <= 0:
            # The category is new to the customer: it scored through the categories that
            # customers with a similar history also buy, not through their own share.
            if pt:
                return (
                    f"um dos mais vendidos em {anchor}, categoria que clientes com compras "
                    f"parecidas com as suas também compram ({count} clientes)"
                )
            return (
                f"a best seller in {anchor}, a category that customers with purchases like "
                f"yours also buy ({count} customers)"
            )
        if pt:
            return (
                f"{share}% das suas compras são em {anchor}; "
                f"um dos mais vendidos da categoria ({count} clientes)"
            )
        return (
            f"{share}% of your purchases are in {anchor}; a best seller there ({count} customers)"
        )
    if reason == "repurchase":
        times = format_number(n, language, decimals=0)
        if pt:
            return f"você já comprou este item {times} {_plural(n, 'vez', 'vezes')}; hora de repor"
        return f"you bought this {times} {_plural(n, 'time', 'times')} before; time to restock"
    if reason == "upsell":
        ratio = format_number(evidence.price_ratio, language)
        rating = format_number(evidence.rating, language)
        reviews = format_number(evidence.n_reviews, language, decimals=0)
        if pt:
            text = f"alternativa superior a {anchor}: {ratio}x o preço"
            if evidence.n_reviews:
                noun = _plural(evidence.n_reviews, "avaliação", "avaliações")
                text += f", nota média {rating} em {reviews} {noun}"
            return text + f", {count} {_plural(n, 'pedido', 'pedidos')}"
        text = f"an upgrade on {anchor}: {ratio}x the price"
        if evidence.n_reviews:
            noun = _plural(evidence.n_reviews, "review", "reviews")
            text += f", rated {rating} on average across {reviews} {noun}"
        return text + f", {count} {_plural(n, 'order', 'orders')}"
    if reason == "popular":
        if pt:
            return f"um dos mais vendidos da loja ({count} {_plural(n, 'cliente', 'clientes')})"
        return f"one of the store's best sellers ({count} {_plural(n, 'customer', 'customers')})"
    raise ValueError(f"unknown reason {reason!r}; expected one of {REASONS}")


def explain_all(evidence: Evidence) -> dict[str, str]:
    """Render the evidence in every supported language, keyed by language tag."""
    return {language: explain(evidence, language) for language in LANGUAGES}
