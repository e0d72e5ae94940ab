"""Locale-aware formatting of money, numbers, percentages and dates (pt-BR and en).

Written out rather than taken from Babel to keep the dependency list short; only the two
locales the dashboard ships are supported.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

Locale = Literal["pt-BR", "en"]
LOCALES: tuple[Locale, ...] = ("pt-BR", "en")
_SYMBOLS = {"BRL": "R$", "USD": "US$", "EUR": "€"}
_SEPARATORS = {"pt-BR": (".", ","), "en": (",", ".")}


def normalise_locale(value: str | None, default: Locale = "pt-BR") -> Locale:
    """``pt-BR`` or ``en`` from a cookie, query or Accept-Language value."""
    if not value:
        return default
    value = value.strip().lower()
    if value.startswith("pt"):
        return "pt-BR"
    if value.startswith("en"):
        return "en"
    return default


def format_number(value: float | int | None, locale: Locale, decimals: int = 0) -> str:
    """``1.234,5`` (pt-BR) or ``1,234.5`` (en); an em dash for ``None``."""
    if value is None:
        return "—"
    thousands, decimal = _SEPARATORS[locale]
    text = f"{abs(value):,.{decimals}f}"
    integer, _, fraction = text.partition(".")
    integer = integer.replace(",", thousands)
    sign = "-" if value < 0 and float(text.replace(",", "")) != 0 else ""
    return sign + integer + (decimal + fraction if fraction else "")


def format_money(minor: int | None, locale: Locale, currency: str = "BRL") -> str:
    """``R$ 1.234,56`` (pt-BR) or ``R$1,234.56`` (en) from integer minor units."""
    if minor is None:
        return "—"
    symbol = _SYMBOLS.get(currency, currency + " ")
    amount = format_number(abs(minor) / 100, locale, 2)
    sign = "-" if minor < 0 else ""
    if locale == "pt-BR":
        return f"{sign}{symbol}\u00a0{amount}"
    return f"{sign}{symbol}{amount}"


def format_money_short(minor: float | None, locale: Locale, currency: str = "BRL") -> str:
    """A short amount for chart axes: ``R$ 40 mil`` / ``R$ 1,2 mi`` (pt-BR), ``R$40k`` (en)."""
    if minor is None:
        return "—"
    symbol = _SYMBOLS.get(currency, currency + " ")
    amount = abs(minor) / 100
    sign = "-" if minor < 0 else ""
    for size, pt, en in ((1e9, " bi", "B"), (1e6, " mi", "M"), (1e3, " mil", "k")):
        if amount >= size:
            value = amount / size
            decimals = 0 if value == round(value) else 1
            text = format_number(value, locale, decimals) + (pt if locale == "pt-BR" else en)
            break
    else:
        text = format_number(amount, locale, 0 if amount == round(amount) else 2)
    if locale == "pt-BR":
        return f"{sign}{symbol}\u00a0{text}"
    return f"{sign}{symbol}{text}"


def format_percent(fraction: float | None, locale: Locale, decimals: int = 1) -> str:
    """``12,5%`` (pt-BR) or ``12.5%`` (en) from a fraction."""
    if fraction is None:
        return "—"
    return format_number(fraction * 100, locale, decimals) + "%"


def format_date(value: date | datetime | None, locale: Locale) -> str:
    """``31/12/2024`` (pt-BR) or ``Dec 31, 2024`` (en)."""
    if value is None:
        return "—"
    if locale == "pt-BR":
        return value.strftime("%d/%m/%Y")
    return f"{_MONTHS_EN[value.month - 1]} {value.day}, {value.year}"


def format_period(period: str, locale: Locale) -> str:
    """``2024-03`` as ``mar/2024`` (pt-BR) or ``Mar 2024`` (en); years unchanged."""
    year, _, month = period.partition("-")
    if not month:
        return year
    index = int(month) - 1
    if locale == "pt-BR":
        return f"{_MONTHS_PT[index]}/{year}"
    return f"{_MONTHS_EN[index]} {year}"


_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS_PT = ("jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez")
