"""Locale-aware formatting of money, numbers, percentages and dates (pt-BR and en), by Babel.

Babel carries the CLDR rules (separators, currency placement, month names), so the
dashboard does not hand-roll them. Timestamps are stored in UTC and shown in the store's
time zone (``America/Sao_Paulo``), so an order placed at 22:00 in São Paulo shows on its
local day.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from babel import numbers as babel_numbers

Locale = Literal["pt-BR", "en"]
LOCALES: tuple[Locale, ...] = ("pt-BR", "en")
DISPLAY_TIME_ZONE = ZoneInfo("America/Sao_Paulo")
_BABEL = {"pt-BR": "pt_BR", "en": "en"}
_MISSING = "—"


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


def _pattern(decimals: int, suffix: str = "") -> str:
    return "#,##0" + ("." + "0" * decimals if decimals > 0 else "") + suffix


def format_number(value: float | int | None, locale: Locale, decimals: int = 0) -> str:
    """``1.234,5`` (pt-BR) or ``1,234.5`` (en); an em dash for ``None``."""
    if value is None:
        return _MISSING
    text = babel_numbers.format_decimal(value, _pattern(decimals), locale=_BABEL[locale])
    # A value that rounds to zero is zero: "-0,00" would suggest a loss that is not there.
    return text.lstrip("-") if round(abs(value), decimals) == 0 else text


def format_money(minor: int | None, locale: Locale, currency: str = "BRL") -> str:
    """``R$ 1.234,56`` (pt-BR) or ``R$1,234.56`` (en) from integer minor units."""
    if minor is None:
        return _MISSING
    # Decimal keeps the centavos exact (a float of 0.1 + 0.2 is not 0.3).
    return babel_numbers.format_currency(Decimal(minor).scaleb(-2), currency, locale=_BABEL[locale])


def format_money_short(minor: float | None, locale: Locale, currency: str = "BRL") -> str:
    """A short amount for chart axes: ``R$ 40 mil`` / ``R$ 1,2 mi`` (pt-BR), ``R$40K`` (en)."""
    if minor is None:
        return _MISSING
    return babel_numbers.format_compact_currency(
        minor / 100, currency, locale=_BABEL[locale], fraction_digits=1
    )


def format_percent(fraction: float | None, locale: Locale, decimals: int = 1) -> str:
    """``12,5%`` (pt-BR) or ``12.5%`` (en) from a fraction."""
    if fraction is None:
        return _MISSING
    return babel_numbers.format_percent(fraction, _pattern(decimals, "%"), locale=_BABEL[locale])


def local_date(value: date | datetime) -> date:
    """The calendar day of ``value`` in the display time zone (dates are already days)."""
    if isinstance(value, datetime):
        return value.astimezone(DISPLAY_TIME_ZONE).date()
    return value


def format_date(value: date | datetime | None, locale: Locale) -> str:
    """``31/12/2024`` (pt-BR) or ``Dec 31, 2024`` (en), on the São Paulo calendar."""
    if value is None:
        return _MISSING
    style = "short" if locale == "pt-BR" else "medium"
    return babel_dates.format_date(local_date(value), style, locale=_BABEL[locale])


def format_datetime(value: datetime | None, locale: Locale) -> str:
    """``31/12/2024 14:05`` (pt-BR) or ``Dec 31, 2024, 2:05 PM`` (en), São Paulo time."""
    if value is None:
        return _MISSING
    style = "short" if locale == "pt-BR" else "medium"
    local = value.astimezone(DISPLAY_TIME_ZONE)
    day = babel_dates.format_date(local.date(), style, locale=_BABEL[locale])
    clock = babel_dates.format_time(local.time(), "short", locale=_BABEL[locale])
    return f"{day} {clock}" if locale == "pt-BR" else f"{day}, {clock}"


def format_period(period: str, locale: Locale) -> str:
    """``2024-03`` as ``mar. de 2024`` (pt-BR) or ``Mar 2024`` (en); years unchanged."""
    year, _, month = period.partition("-")
    if not month:
        return year
    first = date(int(year), int(month), 1)
    return babel_dates.format_skeleton("yMMM", first, locale=_BABEL[locale])
