"""Locale formatting through Babel: CLDR's pt-BR and en conventions, São Paulo calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime

from recompra.formatting import (
    format_date,
    format_money,
    format_number,
    format_percent,
    format_period,
    local_date,
)


def test_money_follows_each_locale() -> None:
    # CLDR pt: "¤ #,##0.00" with "." grouping and "," decimals; en: "¤#,##0.00".
    assert format_money(123456, "pt-BR") == "R$\u00a01.234,56"
    assert format_money(123456, "en") == "R$1,234.56"
    assert format_money(-5, "pt-BR") == "-R$\u00a00,05"
    assert format_money(None, "pt-BR") == "—"


def test_numbers_and_percentages() -> None:
    assert format_number(1234.5, "pt-BR", 1) == "1.234,5"
    assert format_number(1234.5, "en", 1) == "1,234.5"
    assert format_number(-0.0001, "pt-BR", 2) == "0,00"  # no "-0,00"
    assert format_percent(0.125, "pt-BR") == "12,5%"
    assert format_percent(0.125, "en", 0) == "12%"  # half-even, as CLDR formats


def test_dates_are_day_month_year_in_portuguese() -> None:
    assert format_date(date(2024, 12, 31), "pt-BR") == "31/12/2024"
    assert format_date(date(2024, 12, 31), "en") == "Dec 31, 2024"
    assert format_period("2024-03", "pt-BR") == "mar. de 2024"
    assert format_period("2024-03", "en") == "Mar 2024"
    assert format_period("2024", "en") == "2024"


def test_timestamps_show_on_the_sao_paulo_calendar() -> None:
    # 01:30 UTC on 1 March is 22:30 on 29 February in São Paulo (UTC-3, no DST since 2019).
    late_evening = datetime(2024, 3, 1, 1, 30, tzinfo=UTC)
    assert local_date(late_evening) == date(2024, 2, 29)
    assert format_date(late_evening, "pt-BR") == "29/02/2024"
