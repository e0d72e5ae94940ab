"""The packaged message templates: dates on the customer's calendar and money in the
message's locale, through Babel (the expectations are written out from the calendar and
CLDR's patterns, not taken from the renderer)."""

from __future__ import annotations

from datetime import UTC, datetime

from recompra.automation.messages import packaged_template

# 01:00 UTC on 1 June is 22:00 on 31 May in São Paulo (UTC−3, no daylight saving).
EXPIRY = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)


def _context() -> dict[str, object]:
    return {
        "customer": {"first_name": "Ana"},
        "points": {"expiring": 120, "balance": 450, "expires_at": EXPIRY},
        "unsubscribe_url": "https://loja.example/u/1",
    }


def test_the_expiry_day_is_the_customers_day_in_each_language() -> None:
    template = packaged_template("points_expiring")
    portuguese = template.render("pt-BR", _context())
    english = template.render("en", _context())
    assert "expiram em 31/05/2026." in portuguese.text
    assert "expire on May 31, 2026." in english.text
    assert "01/06/2026" not in portuguese.html
    assert "2026-06-01" not in english.html


def test_both_languages_say_the_same_thing() -> None:
    template = packaged_template("points_expiring")
    portuguese = template.render("pt-BR", _context())
    english = template.render("en", _context())
    assert "Use-os antes que seja tarde." in portuguese.text
    assert "Use them before it is too late." in english.text
    assert len(english.text.splitlines()) == len(portuguese.text.splitlines())


def test_order_totals_follow_the_message_locale() -> None:
    template = packaged_template("post_purchase_thanks")
    context = {
        "customer": {"first_name": "Ana"},
        "order": {"number": "A-1", "total_minor": 123456},
        "points": None,
        "tier": None,
        "recommendations": [],
        "unsubscribe_url": "https://loja.example/u/1",
        "brand": {"name": "Loja"},
    }
    # CLDR: pt-BR groups with "." and decimals with ",", the symbol before a no-break
    # space; en writes the symbol flush and uses "," and ".".
    assert "R$\xa01.234,56" in template.render("pt-BR", context).text
    assert "R$1,234.56" in template.render("en", context).text
